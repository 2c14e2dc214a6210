#!/usr/bin/env bash
# Offline checks of the deployment files (deploy/, Dockerfile). Needs python3 and, on the first
# run only, PyPI (the schema validator is installed into target/deploy-check/venv and reused).
#
#   deploy/check.sh                                  every check below
#   BRIDGEWAY_BIN=target/debug/bridgeway deploy/check.sh
#       also runs `bridgeway check` on the ConfigMap's bridge files, with the example Secret's
#       fake values in place of the mounted secrets
#
# Checks: shell syntax of the scripts; every Kubernetes file parses as YAML, and so does every
# bridge file inside the ConfigMap; kustomization.yaml lists every manifest and only existing
# ones; the resources validate against the Kubernetes OpenAPI schemas of the oldest and newest
# versions below (kubernetes-validate --strict: unknown fields are errors); the manifests agree
# with each other (selectors, port names, ConfigMap, Secret and key references, ${file:…}
# paths, the grace-period arithmetic, the security settings); the Dockerfile keeps its promises;
# the systemd unit passes `systemd-analyze verify` and `security`, where systemd-analyze exists.
# Exits 1 on any problem.
set -euo pipefail
cd "$(dirname "$0")/.."

kv_version=1.37.0
k8s_versions=(1.30.0 1.37.0)
# The validator and its dependencies, pinned, so a later release cannot change the verdict.
pins=(
    "kubernetes-validate==$kv_version"
    attrs==26.1.0 importlib_resources==7.1.0 jsonschema==4.26.0
    jsonschema-specifications==2025.9.1 packaging==26.4 PyYAML==6.0.4 referencing==0.37.0
    rpds-py==2026.9.1 typing_extensions==4.16.0
)
k8s=deploy/kubernetes
venv=target/deploy-check/venv
stamp="$venv/.installed-$(printf '%s\n' "${pins[@]}" | sha256sum | cut -c1-16)"
failed=0
fail() { echo "FAIL $*"; failed=1; }

echo "== shell syntax"
for script in deploy/check.sh deploy/image/build-local.sh; do
    if bash -n "$script"; then echo "ok   $script"; else fail "$script"; fi
done

echo "== validator: kubernetes-validate $kv_version in $venv"
if [ ! -f "$stamp" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-input "${pins[@]}"
    touch "$stamp"
    echo "installed"
else
    echo "already installed"
fi
py="$venv/bin/python"

echo "== YAML, kustomization, cross-references"
"$py" - "$k8s" <<'PY' || failed=1
import os, re, sys
import yaml

k8s = sys.argv[1]
problems = []
def bad(msg): problems.append(msg)
def ok(msg): print("ok  ", msg)

docs = {}          # (kind, name) -> document
for f in sorted(os.listdir(k8s)):
    if not f.endswith((".yaml", ".yml")):
        continue
    path = os.path.join(k8s, f)
    try:
        loaded = [d for d in yaml.safe_load_all(open(path)) if d is not None]
    except yaml.YAMLError as e:
        bad(f"{path}: not YAML: {e}")
        continue
    ok(f"{path}: {len(loaded)} document(s) parse")
    for d in loaded:
        docs[(d.get("kind"), (d.get("metadata") or {}).get("name"))] = (f, d)

kust = docs.get(("Kustomization", None))
if not kust:
    bad(f"{k8s}/kustomization.yaml: missing")
else:
    listed = kust[1].get("resources") or []
    present = {f for (_, (f, _)) in docs.items() if f != "kustomization.yaml"}
    for r in listed:
        if not os.path.exists(os.path.join(k8s, r)):
            bad(f"kustomization.yaml: lists {r}, which does not exist")
    for f in sorted(present - set(listed)):
        bad(f"kustomization.yaml: does not list {f}")
    if set(listed) == present:
        ok(f"kustomization.yaml lists all {len(listed)} manifests")

def get(kind, name):
    d = docs.get((kind, name))
    if d is None:
        bad(f"no {kind} named {name}")
        return {}
    return d[1]

dep = get("Deployment", "bridgeway")
spec = dep.get("spec", {})
pod = spec.get("template", {}).get("spec", {})
pod_labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
def selects(sel, what):
    if not sel or any(pod_labels.get(k) != v for k, v in sel.items()):
        bad(f"{what}: selector {sel} does not select the pod labels {pod_labels}")
    else:
        ok(f"{what} selects the gateway pods")

selects(spec.get("selector", {}).get("matchLabels"), "Deployment")
if (spec.get("replicas") or 1) < 2:
    bad("Deployment: fewer than 2 replicas")
c = (pod.get("containers") or [{}])[0]
ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
if ports.get("http") != 8080 or ports.get("admin") != 9090:
    bad(f"container ports: want http 8080 and admin 9090, have {ports}")
for probe in ("readinessProbe", "livenessProbe"):
    port = c.get(probe, {}).get("httpGet", {}).get("port")
    if port not in ports:
        bad(f"{probe}: port {port} is not a container port name")
want_paths = {"readinessProbe": "/-/ready", "livenessProbe": "/-/health"}
for probe, path in want_paths.items():
    if c.get(probe, {}).get("httpGet", {}).get("path") != path:
        bad(f"{probe}: path is not {path}")

for svc_name in ("bridgeway", "bridgeway-admin"):
    svc = get("Service", svc_name).get("spec", {})
    selects(svc.get("selector"), f"Service {svc_name}")
    for p in svc.get("ports", []):
        if p.get("targetPort") not in ports:
            bad(f"Service {svc_name}: targetPort {p.get('targetPort')} is not a container port name")
main_ports = [p.get("targetPort") for p in get("Service", "bridgeway").get("spec", {}).get("ports", [])]
if "admin" in main_ports or 9090 in main_ports:
    bad("Service bridgeway exposes the admin port")
selects(get("PodDisruptionBudget", "bridgeway").get("spec", {}).get("selector", {}).get("matchLabels"),
        "PodDisruptionBudget")

# Security settings the image and SPEC §9 promise.
psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
for key, want in (("runAsNonRoot", True), ("readOnlyRootFilesystem", True),
                  ("allowPrivilegeEscalation", False)):
    if {**psc, **csc}.get(key) != want:
        bad(f"securityContext.{key} is not {want}")
if csc.get("capabilities", {}).get("drop") != ["ALL"]:
    bad("securityContext: capabilities.drop is not [ALL]")
if ({**psc, **csc}.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
    bad("securityContext: seccompProfile is not RuntimeDefault")
for r in ("requests", "limits"):
    if not c.get("resources", {}).get(r):
        bad(f"container: no resources.{r}")

# Volumes: the ConfigMap and Secret exist, the Secret's keys exist, mounts are whole.
volumes = {v["name"]: v for v in pod.get("volumes", [])}
mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
cm_name = volumes.get("bridges", {}).get("configMap", {}).get("name")
secret_name = volumes.get("credentials", {}).get("secret", {}).get("secretName")
cm = get("ConfigMap", cm_name)
secret = get("Secret", secret_name)
secret_keys = set((secret.get("stringData") or {}) | (secret.get("data") or {}))
if mounts.get("bridges", {}).get("mountPath") != "/etc/bridgeway/bridges":
    bad("the bridges volume is not mounted at /etc/bridgeway/bridges")
secrets_dir = mounts.get("credentials", {}).get("mountPath", "?")
for m in mounts.values():
    if "subPath" in m:
        bad(f"volumeMount {m['name']}: subPath mounts are never updated")
for e in c.get("env", []):
    ref = (e.get("valueFrom") or {}).get("secretKeyRef")
    if ref and (ref.get("name") != secret_name or ref.get("key") not in secret_keys):
        bad(f"env {e['name']}: secretKeyRef {ref} names no key of Secret {secret_name}")
env_names = {e["name"] for e in c.get("env", [])}

# The bridge files in the ConfigMap: YAML, and every ${VAR} / ${file:…} they need is provided.
files = cm.get("data") or {}
for key, text in sorted(files.items()):
    if not key.endswith((".yaml", ".yml")):
        continue
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as e:
        bad(f"ConfigMap {cm_name} {key}: not YAML: {e}")
        continue
    ok(f"ConfigMap {cm_name} {key}: parses")
    for ref in re.findall(r"(?<!\$)\$\{([^}]*)\}", text):
        if ref.startswith("file:"):
            path = ref[len("file:"):]
            if not path.startswith(secrets_dir + "/") or path[len(secrets_dir) + 1:] not in secret_keys:
                bad(f"{key}: ${{{ref}}} is not a key of Secret {secret_name} under {secrets_dir}")
        elif ":-" not in ref and ref not in env_names:
            bad(f"{key}: ${{{ref}}} has no default and the container sets no {ref}")

# Grace period: drain delay + shutdown grace must fit in terminationGracePeriodSeconds.
def seconds(v):
    m = re.fullmatch(r"(\d+)(ms|s|m)", v)
    if not m:
        bad(f"cannot read the duration {v!r}")
        return 0
    n, unit = int(m.group(1)), m.group(2)
    return n / 1000 if unit == "ms" else n * 60 if unit == "m" else n
args = " ".join(c.get("args", []))
def flag(name, default):
    m = re.search(rf"--{name}[= ](\S+)", args)
    return m.group(1) if m else default
drain, grace = seconds(flag("drain-delay", "0s")), seconds(flag("shutdown-grace", "30s"))
period = pod.get("terminationGracePeriodSeconds", 30)
if period < drain + grace:
    bad(f"terminationGracePeriodSeconds {period} < drain {drain} + grace {grace}")
else:
    ok(f"terminationGracePeriodSeconds {period} >= drain {drain:g} s + grace {grace:g} s")
if "--admin-listen" not in args or not re.search(r"--admin-listen[= ]\S*:9090\b", args):
    bad("args: no --admin-listen on port 9090, where the probes go")

for p in problems:
    print("FAIL", p)
if problems:
    sys.exit(1)
ok("manifests agree with each other")
PY

echo "== Kubernetes schemas (kubernetes-validate --strict)"
resources=()
while IFS= read -r r; do resources+=("$k8s/$r"); done < <("$py" -c '
import sys, yaml
for r in yaml.safe_load(open(sys.argv[1]))["resources"]: print(r)' "$k8s/kustomization.yaml")
for v in "${k8s_versions[@]}"; do
    if "$venv/bin/kubernetes-validate" --strict --no-warn -k "$v" "${resources[@]}" >target/deploy-check/validate.log 2>&1; then
        echo "ok   $(grep -c passed target/deploy-check/validate.log) resource(s) against Kubernetes $v"
    else
        sed 's/^/     /' target/deploy-check/validate.log
        fail "schema validation against Kubernetes $v"
    fi
done

echo "== Dockerfile"
for want in 'ARG BUILDER_IMAGE=' 'ARG RUNTIME_IMAGE=' 'cargo build --profile dist --locked' \
            'USER 65532:65532' 'EXPOSE 8080' \
            'ENTRYPOINT ["/usr/local/bin/bridgeway", "serve", "--listen", "0.0.0.0:8080", "--bridges", "/etc/bridgeway/bridges"]'; do
    if grep -qF -- "$want" Dockerfile; then echo "ok   $want"; else fail "Dockerfile lacks: $want"; fi
done
for want in 'target/' '.git/'; do
    grep -qxF -- "$want" .dockerignore || fail ".dockerignore lacks $want"
done

echo "== systemd unit"
unit=deploy/systemd/bridgeway.service
if command -v systemd-analyze >/dev/null; then
    # verify wants ExecStart's binary to exist: point it at a stub for the check.
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    printf '#!/bin/sh\n' >"$tmp/bridgeway" && chmod +x "$tmp/bridgeway"
    sed "s#/usr/local/bin/bridgeway#$tmp/bridgeway#" "$unit" >"$tmp/bridgeway.service"
    if out="$(systemd-analyze verify "$tmp/bridgeway.service" 2>&1)" && [ -z "$out" ]; then
        echo "ok   systemd-analyze verify $unit"
    else
        printf '%s\n' "$out" | sed 's/^/     /'
        fail "systemd-analyze verify $unit"
    fi
    if out="$(systemd-analyze security --offline=yes --threshold=20 "$tmp/bridgeway.service" 2>&1)"; then
        echo "ok   systemd-analyze security: $(printf '%s\n' "$out" | grep -o 'exposure level.*')"
    else
        printf '%s\n' "$out" | grep -v '^✓' | sed 's/^/     /'
        fail "systemd-analyze security $unit (exposure above 2.0)"
    fi
else
    echo "skip systemd-analyze not installed (apt-get install systemd)"
fi

if [ -n "${BRIDGEWAY_BIN:-}" ]; then
    echo "== bridgeway check on the ConfigMap's bridges ($BRIDGEWAY_BIN)"
    tmp2="$(mktemp -d)"
    # The bridge files, with the Secret's fake values where the pod would mount them.
    "$py" - "$k8s" "$tmp2" <<'PY'
import os, sys, yaml
k8s, out = sys.argv[1], sys.argv[2]
docs = [d for f in ("configmap-bridges.yaml", "secret-example.yaml", "deployment.yaml")
        for d in yaml.safe_load_all(open(os.path.join(k8s, f))) if d]
cm = next(d for d in docs if d["kind"] == "ConfigMap")
secret = next(d for d in docs if d["kind"] == "Secret")
os.makedirs(f"{out}/bridges"); os.makedirs(f"{out}/secrets")
for k, v in secret["stringData"].items():
    open(f"{out}/secrets/{k}", "w").write(v + "\n")
for k, v in cm["data"].items():
    open(f"{out}/bridges/{k}", "w").write(v.replace("/run/secrets/bridgeway/", f"{out}/secrets/"))
env = open(f"{out}/env", "w")
dep = next(d for d in docs if d["kind"] == "Deployment")
for e in dep["spec"]["template"]["spec"]["containers"][0].get("env", []):
    ref = (e.get("valueFrom") or {}).get("secretKeyRef")
    value = secret["stringData"][ref["key"]] if ref else e.get("value", "")
    env.write(f"{e['name']}={value}\n")
PY
    if (set -a; . "$tmp2/env"; "$BRIDGEWAY_BIN" check --bridges "$tmp2/bridges"); then
        echo "ok   bridgeway check"
    else
        fail "bridgeway check on the ConfigMap's bridges"
    fi
    rm -rf "$tmp2"
else
    echo "skip bridgeway check on the ConfigMap's bridges (set BRIDGEWAY_BIN to a built binary)"
fi

if [ "$failed" -ne 0 ]; then
    echo "deploy/check.sh: FAILED"
    exit 1
fi
echo "deploy/check.sh: all checks passed"
