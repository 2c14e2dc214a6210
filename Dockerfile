# bridgeway container image: a Rust build stage and a small runtime stage.
#
#   docker build -t bridgeway .          (or: podman build -t bridgeway .)
#
# Both base images are build arguments, so the same file builds against the public images
# (the defaults) or against local ones on a machine that cannot pull
# (deploy/image/build-local.sh makes both from Debian's packages). The builder must be
# Debian 12 (bookworm), or older, for the binary's glibc to match the runtime's.
#
# The RUN below uses cache mounts (`RUN --mount=type=cache`): BuildKit (the default builder of
# Docker 23 and later) and podman/buildah 4 understand them.
ARG BUILDER_IMAGE=docker.io/library/rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${BUILDER_IMAGE} AS build
# Set to true when the crates are already in the registry cache and the build has no network.
ARG CARGO_NET_OFFLINE=false
ENV CARGO_NET_OFFLINE=${CARGO_NET_OFFLINE} \
    CARGO_TERM_COLOR=never
WORKDIR /src
# Only what the release build reads: the manifest declares the benches, so they must be there.
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
COPY src ./src
# The registry and target/ live in cache mounts, so a rebuild after a source change
# recompiles only the gateway itself. The binary is copied out in the same step: the
# mounted target/ is not part of the layer.
# The `dist` profile (Cargo.toml): release plus fat LTO and one codegen unit, slower to build
# and measured at 7% fewer instructions per request than without them.
RUN --mount=type=cache,id=bridgeway-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=bridgeway-target,target=/src/target \
    cargo build --profile dist --locked \
 && install -D -m 0755 target/dist/bridgeway /out/usr/local/bin/bridgeway \
 && install -D -m 0644 /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ca-certificates.crt

# Runtime: distroless cc (glibc, libgcc_s, CA certificates; no shell, no package manager)
# by default; debian:bookworm-slim works too. Nothing is run in this stage, so a base image
# without a shell is fine.
FROM ${RUNTIME_IMAGE}
# The build stage's CA bundle, for upstream https: the gateway verifies upstreams against the
# system trust store (/etc/ssl/certs/ca-certificates.crt; SSL_CERT_FILE / SSL_CERT_DIR to add a
# private CA by mounting it). debian:bookworm-slim ships no CA certificates of its own.
COPY --from=build /out/ /
# A numeric user, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
# 65532 is distroless's "nonroot"; no passwd entry is needed for it.
USER 65532:65532
# Read-only root file system friendly: the gateway writes nothing at run time (logs go to
# stderr). The only paths it reads are mounted:
#   /etc/bridgeway/bridges   the bridge and connection files (a ConfigMap, a volume, a bind mount)
#   /run/secrets/...         credentials, read through ${file:/run/secrets/...} in those files
# The folders are declared here, not created: a VOLUME would make Docker create anonymous,
# writable volumes, which is not wanted for configuration.
EXPOSE 8080
STOPSIGNAL SIGTERM
# No HEALTHCHECK: the runtime image has no shell and no curl or wget to call /-/health with,
# and the gateway has no self-probe subcommand. Orchestrators probe over HTTP instead
# (Kubernetes: httpGet on /-/ready and /-/health, see deploy/kubernetes/deployment.yaml).
#
# Extra flags given as arguments (`docker run IMAGE --log-format json`, Kubernetes `args:`)
# are appended to these. The two flags here win over BRIDGEWAY_LISTEN / BRIDGEWAY_BRIDGES;
# override the entrypoint to change them, or to run another subcommand:
#   docker run --entrypoint /usr/local/bin/bridgeway IMAGE check --bridges /etc/bridgeway/bridges
ENTRYPOINT ["/usr/local/bin/bridgeway", "serve", "--listen", "0.0.0.0:8080", "--bridges", "/etc/bridgeway/bridges"]

LABEL org.opencontainers.image.title="bridgeway" \
      org.opencontainers.image.description="A hot-reloaded API-bridge gateway: one YAML file per integration" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
