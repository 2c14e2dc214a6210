#!/usr/bin/env bash
# The gateway against the upstream it calls, on this machine, in one run.
#
#   benches/load.sh [SECONDS]          # default 10 s of load per row, after 2 s of warm-up
#
# Starts a local nginx serving JSONPlaceholder-shaped posts, the gateway built as shipped
# (`cargo build --profile dist`: fat LTO, one codegen unit) with the
# shipped fetch-post bridge pointed at it, and drives both with wrk. Prints requests/s, p50 and
# p99 for (a) the upstream hit directly and (b) through the gateway, their ratio, the gateway's
# CPU per request, and its resident memory idle with 1 and with 1,000 bridges and under load.
# Loopback only; every load is bounded; stops exactly what it started. Installs wrk and nginx
# from Debian when missing (needs root or sudo). Environment: CONNS (32), THREADS (1),
# LOG=info to measure with one log line per request (default: warn, like the nginx peers).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DURATION="${1:-10}"
CONNS="${CONNS:-32}"
THREADS="${THREADS:-1}"
LOG="${LOG:-warn}"
PORT_UP=18281
PORT_GW=18282
PORT_GW1000=18283
[[ "$DURATION" =~ ^[0-9]+$ ]] && (( DURATION >= 1 && DURATION <= 120 )) || { echo "SECONDS must be 1..120" >&2; exit 2; }

install_missing() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
    (( ${#missing[@]} )) || return 0
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    echo "== installing ${missing[*]} from Debian"
    # Keep the nginx package from starting its own service on port 80.
    local policy=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
        $sudo chmod +x /usr/sbin/policy-rc.d
        policy=1
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    [[ -z "$policy" ]] || $sudo rm -f /usr/sbin/policy-rc.d
}

for port in $PORT_UP $PORT_GW $PORT_GW1000; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "port $port is taken" >&2; exit 1; fi
done
install_missing
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
echo "== building the gateway as shipped (cargo build --profile dist)"
(cd "$ROOT" && cargo build --profile dist --quiet)

WORK="$(mktemp -d)"
chmod 755 "$WORK" # nginx workers drop root and must read the posts
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# JSONPlaceholder-shaped posts 1..100, pretty-printed like the real service.
mkdir -p "$WORK/posts"
for id in $(seq 1 100); do
    printf '{\n  "userId": %d,\n  "id": %d,\n  "title": "post %d sunt aut facere repellat provident occaecati",\n  "body": "quia et suscipit\\nsuscipit recusandae consequuntur expedita et cum\\nreprehenderit molestiae ut ut quas totam"\n}' \
        $(( (id - 1) / 10 + 1 )) "$id" "$id" > "$WORK/posts/$id"
done
cat > "$WORK/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx.error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000;
    server {
        listen 127.0.0.1:$PORT_UP;
        location /posts/ { root $WORK; default_type application/json; }
    }
}
EOF
"$NGINX" -c "$WORK/nginx.conf" -p "$WORK" 2>"$WORK/nginx.stderr" &
PIDS+=($!)

start_gateway() { # dir port → pid
    JSONPLACEHOLDER_URL="http://127.0.0.1:$PORT_UP" RUST_LOG="$LOG" \
        "$ROOT/target/dist/bridgeway" serve --bridges "$1" --listen "127.0.0.1:$2" 2>>"$WORK/gateway.log" >/dev/null &
    echo $!
}
wait_ready() { # url
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "not ready: $1" >&2; exit 1
}
rss_mb() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

GW=$(start_gateway "$ROOT/bridges" $PORT_GW); PIDS+=("$GW")
wait_ready "http://127.0.0.1:$PORT_UP/posts/1"
wait_ready "http://127.0.0.1:$PORT_GW/-/ready"
check=$(curl -fsS -H 'content-type: application/json' -d '{"user_id": 42}' "http://127.0.0.1:$PORT_GW/api/v1/fetch-post")
[[ "$check" == *'"external_id":42'* ]] || { echo "the gateway does not answer correctly: $check" >&2; exit 1; }
IDLE_1=$(rss_mb "$GW")

cat > "$WORK/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.0f %.3f %.3f %d %d %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.status, e.connect + e.read + e.write + e.timeout, summary.requests))
end
EOF
cat > "$WORK/post.lua" <<EOF
dofile("$WORK/report.lua")
local reqs, n = {}, 0
function init(args)
  for id = 1, 100 do
    local body = string.format('{"user_id": %d, "query_text": "bench query %d"}', id, id)
    reqs[id] = wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
  end
end
function request() n = n % 100 + 1; return reqs[n] end
EOF

run_wrk() { # name url [script] → "req/s p50 p99 non2xx errors requests"
    local script=("-s" "${3:-$WORK/report.lua}")
    timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNS" -d2s "${script[@]}" "$2" >/dev/null 2>&1 || true
    timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 5s --latency "${script[@]}" "$2" \
        2>&1 | awk '/^RESULT/ { print $2, $3, $4, $5, $6, $7 }'
}

echo "== load: wrk -t$THREADS -c$CONNS -d${DURATION}s (after 2 s warm-up), RUST_LOG=$LOG"
read -r D_RPS D_P50 D_P99 D_NON2XX D_ERR _ <<<"$(run_wrk direct "http://127.0.0.1:$PORT_UP/posts/1")"

PEAK_FILE="$WORK/peak"; echo 0 > "$PEAK_FILE"
( while kill -0 "$GW" 2>/dev/null; do
      r=$(rss_mb "$GW"); awk -v r="$r" -v f="$PEAK_FILE" 'BEGIN { getline p < f; if (r > p) print r > f }'
      sleep 0.2
  done ) &
SAMPLER=$!; PIDS+=("$SAMPLER")
T0=$(cpu_ticks "$GW")
read -r G_RPS G_P50 G_P99 G_NON2XX G_ERR G_REQS <<<"$(run_wrk gateway "http://127.0.0.1:$PORT_GW/api/v1/fetch-post" "$WORK/post.lua")"
T1=$(cpu_ticks "$GW")
kill "$SAMPLER" 2>/dev/null || true
LOADED=$(cat "$PEAK_FILE")
# The warm-up requests used CPU too: count them in at the measured rate.
CPU_US=$(awk -v t=$((T1 - T0)) -v hz="$(getconf CLK_TCK)" -v n="$G_REQS" -v d="$DURATION" \
    'BEGIN { printf "%.1f", t / hz * 1e6 / (n * (d + 2) / d) }')

# Idle memory with 1,000 bridges (copies of fetch-post on distinct paths).
mkdir -p "$WORK/bridges-1000"
for i in $(seq 1 1000); do
    sed -e "s|^name: fetch-post|name: fetch-post-$i|" -e "s|path: /api/v1/fetch-post|path: /api/v1/fetch-post-$i|" \
        "$ROOT/bridges/fetch-post.yaml" > "$WORK/bridges-1000/fetch-post-$i.yaml"
done
GW1000=$(start_gateway "$WORK/bridges-1000" $PORT_GW1000); PIDS+=("$GW1000")
wait_ready "http://127.0.0.1:$PORT_GW1000/-/ready"
n=$(curl -fsS "http://127.0.0.1:$PORT_GW1000/-/bridges" | grep -o '"name"' | wc -l)
[[ "$n" -eq 1000 ]] || { echo "expected 1000 bridges, got $n" >&2; exit 1; }
IDLE_1000=$(rss_mb "$GW1000")

echo
echo "| target | req/s | p50 ms | p99 ms | non-2xx | socket errors |"
echo "|---|---:|---:|---:|---:|---:|"
echo "| upstream direct (nginx, GET /posts/1) | $D_RPS | $D_P50 | $D_P99 | $D_NON2XX | $D_ERR |"
echo "| gateway (POST fetch-post → upstream) | $G_RPS | $G_P50 | $G_P99 | $G_NON2XX | $G_ERR |"
echo
awk -v g="$G_RPS" -v d="$D_RPS" 'BEGIN { printf "gateway / direct: %.2f of the upstream'"'"'s own req/s\n", g / d }'
echo "gateway CPU: $CPU_US µs per request"
echo "gateway resident memory: idle ${IDLE_1} MB with 1 bridge, ${IDLE_1000} MB with 1,000 bridges, peak ${LOADED} MB under load"
echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
