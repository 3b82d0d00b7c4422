#!/usr/bin/env bash
# Starts GhostStream: the tray app where there is a display, the headless server where
# there is none. Installs what is missing (ffmpeg; for the app also webkit2gtk and the UI's
# Node packages), then builds and runs.
#   scripts/run.sh                 tray app, or headless server without a display
#   scripts/run.sh tray            the tray app
#   scripts/run.sh serve [flags]   the headless server (0.0.0.0:8765 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-auto}"
if [ "$mode" = auto ]; then
  if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then mode=tray; else mode=serve; fi
else
  shift
fi
case "$mode" in
  tray)
    scripts/setup.sh --desktop
    npm run --silent ui:build
    cargo build --release --locked -p ghoststream-tray --features custom-protocol
    exec target/release/ghoststream-tray "$@"
    ;;
  *)
    scripts/setup.sh
    cargo build --release --locked -p ghoststream-server --bin ghoststream
    [ "$mode" = serve ] || set -- "$mode" "$@"
    exec target/release/ghoststream serve "$@"
    ;;
esac
