#!/usr/bin/env bash
# GATEWAY_CMD for ../shared/bench/run.sh: serves the shipped fetch-post bridge against the
# harness's upstream, with the harness's upstream timeout (the shipped file says 10s; the
# harness checks for a 504 within UPSTREAM_TIMEOUT + 3 s). Run from the repository root:
#
#   cargo build --profile dist     # the measured build: fat LTO, one codegen unit
#   GATEWAY_CMD='exec benches/shared-bench-gateway.sh' ../shared/bench/run.sh 8
#
# BRIDGEWAY_BIN=PATH runs another build (to compare two in the same harness).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/target/shared-bench-bridges"
mkdir -p "$dir"
sed "s/timeout: 10s/timeout: ${UPSTREAM_TIMEOUT:-2}s/" "$root/bridges/fetch-post.yaml" > "$dir/fetch-post.yaml"
export JSONPLACEHOLDER_URL="${UPSTREAM_BASE:?set by run.sh}"
export RUST_LOG="${RUST_LOG:-warn}"
exec "${BRIDGEWAY_BIN:-$root/target/dist/bridgeway}" serve --bridges "$dir" --listen "${GATEWAY_ADDR:?set by run.sh}"
