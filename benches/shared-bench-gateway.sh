#!/usr/bin/env bash
# GATEWAY_CMD for ../shared/bench/run.sh: serves the shipped fetch-post bridge against the
# harness's upstream, with the harness's upstream timeout (the shipped file says 10s; the
# harness checks for a 504 within UPSTREAM_TIMEOUT + 3 s). Run from the repository root:
#
#   cargo build --profile dist     # the measured build: fat LTO, one codegen unit
#   GATEWAY_CMD='exec benches/shared-bench-gateway.sh' ../shared/bench/run.sh 8
#
# BRIDGEWAY_BIN=PATH runs another build (to compare two in the same harness).
# OAUTH2=1 puts the bridge behind a connection whose credential is an OAuth2 token from the test
# authorization server (tests/oauth2-server, started here and stopped with the gateway): every
# request then takes the cached token on its way.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/target/shared-bench-bridges"
rm -rf "$dir"
mkdir -p "$dir"
sed "s/timeout: 10s/timeout: ${UPSTREAM_TIMEOUT:-2}s/" "$root/bridges/fetch-post.yaml" > "$dir/fetch-post.yaml"
export JSONPLACEHOLDER_URL="${UPSTREAM_BASE:?set by run.sh}"
export RUST_LOG="${RUST_LOG:-warn}"
bin="${BRIDGEWAY_BIN:-$root/target/dist/bridgeway}"
if [[ -z "${OAUTH2:-}" ]]; then
    exec "$bin" serve --bridges "$dir" --listen "${GATEWAY_ADDR:?set by run.sh}"
fi

token_port="${TOKEN_PORT:-18384}"
out="$(mktemp)"
node "$root/tests/oauth2-server/server.mjs" --port "$token_port" --ttl 3600 >"$out" 2>&1 &
token=$!
for _ in $(seq 1 200); do grep -q READY "$out" && break; sleep 0.1; done
cat > "$dir/up.yaml" <<YAML
kind: connection
name: up
base_url: "\${JSONPLACEHOLDER_URL}"
auth:
  oauth2: { token_url: "http://127.0.0.1:$token_port/token", client_id: basic-client, client_secret: basic-secret, scope: api }
YAML
sed -i -e 's|^  url: .*|  connection: up\n  url: "/posts/{{input.user_id}}"|' "$dir/fetch-post.yaml"
"$bin" serve --bridges "$dir" --listen "${GATEWAY_ADDR:?set by run.sh}" &
gateway=$!
stop() { kill "$gateway" "$token" 2>/dev/null || true; wait "$gateway" 2>/dev/null || true; rm -f "$out"; }
trap 'stop; exit 0' TERM INT
trap stop EXIT
wait "$gateway"
