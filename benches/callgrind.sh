#!/usr/bin/env bash
# Instructions per request on the request path, counted by callgrind: repeatable for one binary
# whatever else the machine is doing (timings here move by ±30%; instruction counts do not).
#
#   benches/callgrind.sh [BINARY] [tls] [oauth2]   # default: target/dist/bridgeway, plain http
#
# `oauth2` puts the bridge behind a connection whose credential is an OAuth2 token from the
# test authorization server (tests/oauth2-server, oidc-provider on Node.js): the token is
# fetched during the warm-up, so the counted requests measure the cached-token path.
#
# Build the binary first with `cargo build --profile dist` (the shipped build: fat LTO, one
# codegen unit); a `--release` binary counts more instructions per request.
#
# Starts a local nginx (plain, or TLS with a throw-away CA when `tls` is given) serving
# JSONPlaceholder-shaped posts, the gateway under callgrind with one worker and the shipped
# fetch-post bridge, sends 200 warm-up requests with counting off, then 2,000 counted ones, and
# prints instructions per request (user space, the whole process). Loopback only; stops what it
# started. Needs valgrind, nginx, curl and openssl (Debian packages).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${1:-$ROOT/target/dist/bridgeway}"
MODE="${2:-plain}"
AUTH="${3:-}"
PORT_TOKEN=18383
PORT_UP=18381
PORT_GW=18382
N=2000
WORK="$(mktemp -d)"
chmod 755 "$WORK"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

mkdir -p "$WORK/posts"
for id in $(seq 1 100); do
    printf '{\n  "userId": %d,\n  "id": %d,\n  "title": "post %d sunt aut facere",\n  "body": "quia et suscipit\\nsuscipit recusandae"\n}' \
        $(( (id - 1) / 10 + 1 )) "$id" "$id" > "$WORK/posts/$id"
done
listen="listen 127.0.0.1:$PORT_UP;"
scheme=http
if [[ "$MODE" == tls ]]; then
    # A CA and a leaf it signs: a self-signed leaf is refused as its own trust anchor.
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca \
        -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$WORK/key.pem" \
        -out "$WORK/leaf.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > "$WORK/leaf.ext"
    openssl x509 -req -in "$WORK/leaf.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
        -CAcreateserial -days 2 -extfile "$WORK/leaf.ext" -out "$WORK/cert.pem" 2>/dev/null
    listen="listen 127.0.0.1:$PORT_UP ssl; ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem;"
    scheme=https
fi
cat > "$WORK/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx.error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 100000;
    server { $listen location /posts/ { root $WORK; default_type application/json; } }
}
CONF
"$(command -v nginx || echo /usr/sbin/nginx)" -c "$WORK/nginx.conf" -p "$WORK" 2>"$WORK/nginx.stderr" &
PIDS+=($!)

mkdir -p "$WORK/bridges"
cp "$ROOT/bridges/fetch-post.yaml" "$WORK/bridges/"
if [[ "$AUTH" == oauth2 ]]; then
    node "$ROOT/tests/oauth2-server/server.mjs" --port "$PORT_TOKEN" --ttl 3600 >"$WORK/token.out" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 200); do grep -q READY "$WORK/token.out" && break; sleep 0.1; done
    cat > "$WORK/bridges/up.yaml" <<YAML
kind: connection
name: up
base_url: "\${JSONPLACEHOLDER_URL}"
auth:
  oauth2: { token_url: "http://127.0.0.1:$PORT_TOKEN/token", client_id: basic-client, client_secret: basic-secret, scope: api }
YAML
    sed -i -e 's|^  url: .*|  connection: up\n  url: "/posts/{{input.user_id}}"|' "$WORK/bridges/fetch-post.yaml"
fi
JSONPLACEHOLDER_URL="$scheme://127.0.0.1:$PORT_UP" SSL_CERT_FILE="$WORK/ca.pem" RUST_LOG=warn \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/cg.out" \
    "$BIN" serve --workers 1 --bridges "$WORK/bridges" --listen "127.0.0.1:$PORT_GW" \
    2>"$WORK/valgrind.log" >/dev/null &
GW=$!
PIDS+=("$GW")
for _ in $(seq 1 600); do
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT_GW/-/ready" 2>/dev/null && break
    sleep 0.1
done
post() { # count
    local i
    for i in $(seq 1 "$1"); do
        printf -- '-d {"user_id":%d}\n-H content-type:application/json\nurl = "http://127.0.0.1:%d/api/v1/fetch-post"\n-o /dev/null\n' \
            $(( i % 100 + 1 )) "$PORT_GW"
        [[ $i -lt $1 ]] && echo "next"
    done > "$WORK/curl.cfg"
    curl -fsS --parallel --parallel-max 8 --no-progress-meter -K "$WORK/curl.cfg"
}
post 200
callgrind_control -i on "$GW" >/dev/null
post "$N"
callgrind_control -i off "$GW" >/dev/null
callgrind_control -d "$GW" >/dev/null
sleep 0.5
# The dump holds what was counted while instrumentation was on: the counted requests.
total=$(cat "$WORK"/cg.out* | awk '/^(summary|totals):/ { if ($2 > max) max = $2 } END { print max + 0 }')
echo "mode=$MODE${AUTH:+ auth=$AUTH} requests=$N instructions=$total per_request=$(( total / N ))"
