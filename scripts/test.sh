#!/usr/bin/env bash
# Runs every check and test: format, lints, unit tests, and the end-to-end suite (real
# binary, real ffmpeg, the published Python SDK, hls.js in Chromium). Installs what is
# missing first. As root with iproute2, the tests run in a network namespace that has only
# loopback, so nothing they start can reach beyond this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

scripts/setup.sh --test

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== build"
cargo build --workspace --all-targets --locked

run_tests() {
  CARGO_NET_OFFLINE=true cargo test --workspace --locked "$@"
}

ns=""
if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null 2>&1; then
  ns="gs-test-$$"
  if ip netns add "$ns" 2>/dev/null; then
    trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
    ip netns exec "$ns" ip link set lo up
  else
    ns=""
  fi
fi
echo "== cargo test ${ns:+(network namespace $ns, loopback only)}"
if [ -n "$ns" ]; then
  ip netns exec "$ns" env "PATH=$PATH" "HOME=$HOME" bash -c "$(declare -f run_tests); run_tests $*"
else
  run_tests "$@"
fi
echo "== all checks passed in $(( $(date +%s) - start )) s"
