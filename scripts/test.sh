#!/usr/bin/env bash
# Runs every check and test, in stages:
#   1. UI: type check, unit tests, build (the dashboard served and embedded)
#   2. engine: fmt, clippy, unit and end-to-end tests (real binary, real ffmpeg, the
#      published Python SDK, hls.js and the dashboard in Chromium) — no webkit needed
#   3. shell: clippy and tests of the Tauri app, fresh typed bindings, the release .deb
#      (the app and the ghoststream CLI), the real window under Xvfb via WebKitWebDriver,
#      and the .deb installed with apt, started without a display, and removed
# Installs what is missing first. As root with iproute2, tests run in a network
# namespace that has only loopback, so nothing they start can reach beyond this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
stage() { echo "== $* ($(( $(date +%s) - start )) s)"; }

scripts/setup.sh --test

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
isolated() { # runs a command loopback-only when possible
  if [ -n "$ns" ]; then ip netns exec "$ns" env "PATH=$PATH" "HOME=$HOME" CARGO_NET_OFFLINE=true "$@"; else "$@"; fi
}

stage "UI: type check, unit tests, build"
npm run --silent ui:check
npx vitest run --root ui
npm run --silent ui:build

stage "engine: cargo fmt --check"
cargo fmt --all --check
stage "engine: clippy"
cargo clippy --all-targets --locked -- -D warnings
stage "engine: build"
cargo build --all-targets --locked
stage "engine: tests ${ns:+(network namespace $ns, loopback only)}"
isolated cargo test --locked "$@"

stage "shell: clippy"
cargo clippy -p ghoststream-tray --all-targets --locked -- -D warnings
stage "shell: tests (tray menu, settings, bindings)"
cargo test -p ghoststream-tray --locked
if ! git diff --quiet -- ui/src/bindings.ts; then
  echo "ui/src/bindings.ts is stale: commit the regenerated file" >&2
  git --no-pager diff --stat -- ui/src/bindings.ts >&2
  exit 1
fi
stage "shell: release bundle (.deb: the app, the ghoststream CLI, a systemd user unit)"
scripts/bundle.sh deb >/tmp/ghoststream-deb.log 2>&1 || { tail -60 /tmp/ghoststream-deb.log; exit 1; }
deb="$(ls -t target/release/bundle/deb/*.deb | head -1)"
echo "built $deb ($(du -h "$deb" | cut -f1))"
stage "shell: the real window under Xvfb (WebKitWebDriver), the release build"
isolated tests/shell/run.sh target/release/ghoststream-tray
stage "shell: the .deb installed with apt"
isolated tests/shell/deb.sh "$deb"
stage "all checks passed"
