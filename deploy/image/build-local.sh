#!/usr/bin/env bash
# Build the bridgeway image with podman on a machine that cannot pull images.
#
# Both base images are made locally, from Debian 12 (bookworm) packages and this machine's Rust
# toolchain, and passed to the Dockerfile as BUILDER_IMAGE / RUNTIME_IMAGE:
#
#   localhost/bridgeway-builder-base:bookworm
#       debootstrap --variant=minbase bookworm + gcc, libc6-dev, ca-certificates, with the
#       toolchain that `rustc --print sysroot` names copied to /usr/local/rust (no docs, no rustup)
#       and the layout of the official rust image (CARGO_HOME=/usr/local/cargo).
#   localhost/bridgeway-runtime-base:bookworm
#       a distroless-like root made by unpacking a few .deb files (libc6, libgcc-s1, gcc-12-base,
#       base-files, netbase) plus /etc/passwd and /etc/group with nonroot (65532), /tmp, and
#       an nsswitch.conf: what gcr.io/distroless/cc-debian12 holds, less tzdata and libstdc++.
#
#   localhost/bridgeway-builder:<Cargo.lock hash>
#       the builder base plus the crates of Cargo.lock, vendored by the host's cargo, with a
#       CARGO_HOME config.toml that replaces crates.io by them: the build runs offline.
#
# Base images are made once and reused (delete them with `podman rmi` to remake them).
# `podman build --isolation chroot`: RUN steps in buildah's chroot, not in an OCI runtime, since
# crun refuses this machine's hybrid cgroup layout ("cgroups in hybrid mode not supported");
# ISOLATION=oci uses the default runtime where that works.
#
# Usage: deploy/image/build-local.sh [IMAGE]      (default IMAGE: localhost/bridgeway:dev)
# Needs root, podman and debootstrap (installed with apt-get when missing), Debian's mirror.
set -euo pipefail
cd "$(dirname "$0")/../.."

image="${1:-localhost/bridgeway:dev}"
builder_base="localhost/bridgeway-builder-base:bookworm"
runtime_base="localhost/bridgeway-runtime-base:bookworm"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
work="target/image-base"     # ignored by git and by .dockerignore

for tool in podman debootstrap; do
    if ! command -v "$tool" >/dev/null; then
        echo "== installing $tool"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null
    fi
done

mkdir -p "$work"

if podman image exists "$builder_base"; then
    echo "== builder base: $builder_base exists"
else
    echo "== builder base: debootstrap bookworm (minbase + gcc, libc6-dev, ca-certificates)"
    sysroot="$(rustc --print sysroot)"
    root="$work/builder-root"
    rm -rf "$root"
    debootstrap --variant=minbase --include=ca-certificates,gcc,libc6-dev \
        bookworm "$root" "$mirror" >"$work/debootstrap-builder.log"
    echo "== builder base: Rust toolchain from $sysroot ($("$sysroot/bin/rustc" --version))"
    mkdir -p "$root/usr/local/rust" "$root/usr/local/cargo"
    cp -a "$sysroot/bin" "$sysroot/lib" "$root/usr/local/rust/"
    [ -d "$sysroot/libexec" ] && cp -a "$sysroot/libexec" "$root/usr/local/rust/"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" --numeric-owner -c . | podman import \
        --change 'ENV CARGO_HOME=/usr/local/cargo' \
        --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' \
        - "$builder_base" >/dev/null
    rm -rf "$root"
fi

# The crates: vendored on the host (its cargo reaches crates.io; a build step inside podman may
# not, and here it cannot verify crates.io's certificate), then layered on the builder base with
# a CARGO_HOME config that replaces crates.io by the vendored copy. The Dockerfile stays as it
# is; its registry cache mount is simply not used. Tagged by Cargo.lock's hash.
lock_hash="$(sha256sum Cargo.lock | cut -c1-12)"
builder="localhost/bridgeway-builder:$lock_hash"
if podman image exists "$builder"; then
    echo "== builder: $builder exists"
else
    echo "== builder: cargo vendor --locked, layered on $builder_base"
    ctx="$work/vendor-context"
    rm -rf "$ctx"
    mkdir -p "$ctx"
    cargo vendor --locked --quiet "$ctx/vendor" >/dev/null
    printf '%s\n' '[source.crates-io]' 'replace-with = "vendored-sources"' '' \
        '[source.vendored-sources]' 'directory = "/opt/crates-vendor"' >"$ctx/config.toml"
    printf '%s\n' "FROM $builder_base" 'COPY vendor /opt/crates-vendor' \
        'COPY config.toml /usr/local/cargo/config.toml' >"$ctx/Containerfile"
    podman build --quiet -t "$builder" -f "$ctx/Containerfile" "$ctx" >/dev/null
    rm -rf "$ctx"
fi

if podman image exists "$runtime_base"; then
    echo "== runtime base: $runtime_base exists"
else
    echo "== runtime base: distroless-like root from libc6, libgcc-s1, gcc-12-base, base-files, netbase"
    debs="$work/runtime-debs"
    root="$work/runtime-root"
    rm -rf "$debs" "$root"
    mkdir -p "$debs" "$root"
    # The packages of the builder's release: `apt-get download` takes the host's lists, so the
    # host must be bookworm too; otherwise take them from the builder base.
    if grep -q '^VERSION_CODENAME=bookworm' /etc/os-release; then
        (cd "$debs" && apt-get -qq -o APT::Sandbox::User=root download \
            libc6 libgcc-s1 gcc-12-base base-files netbase)
    else
        podman run --rm --network host -v "$PWD/$debs:/debs" "$builder_base" sh -c \
            'apt-get update -qq && cd /debs && apt-get -qq -o APT::Sandbox::User=root download libc6 libgcc-s1 gcc-12-base base-files netbase'
    fi
    for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$root"; done
    rm -rf "$root/usr/share/doc" "$root/usr/share/lintian" "$root/usr/share/man" "$root/usr/share/info"
    mkdir -p "$root/tmp" "$root/etc/ssl/certs"
    chmod 1777 "$root/tmp"
    cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
    cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
nonroot:x:65532:
EOF
    printf 'passwd: files\ngroup: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n' \
        >"$root/etc/nsswitch.conf"
    tar -C "$root" --numeric-owner -c . | podman import \
        --change 'USER 65532:65532' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        - "$runtime_base" >/dev/null
    rm -rf "$root" "$debs"
fi

echo "== podman build $image"
start=$(date +%s)
podman build --isolation "${ISOLATION:-chroot}" --network host \
    --build-arg BUILDER_IMAGE="$builder" \
    --build-arg CARGO_NET_OFFLINE=true \
    --build-arg RUNTIME_IMAGE="$runtime_base" \
    -t "$image" -f Dockerfile .
echo "== built $image in $(( $(date +%s) - start )) s"
podman image inspect "$image" \
    --format 'size={{.Size}} user={{.Config.User}} entrypoint={{json .Config.Entrypoint}} exposed={{json .Config.ExposedPorts}}'
