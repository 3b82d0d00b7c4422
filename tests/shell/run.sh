#!/usr/bin/env bash
# Runs the real app window under Xvfb and a D-Bus session (no tray host: the tray-less
# path), driven by WebKitWebDriver; then, on a session bus with a tray host, the window
# process's life (tray_host.py). Usage: tests/shell/run.sh [APP_BINARY]
set -euo pipefail
cd "$(dirname "$0")/../.."
app="$(realpath "${1:-target/debug/ghoststream-tray}")"
shots="$PWD/target/test-artifacts"
media="$(ls target/test-media-v1/long.mkv 2>/dev/null || true)"
if [ -z "$media" ]; then
  mkdir -p target/test-media-v1
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=320x180:rate=25:duration=24 \
    -f lavfi -i sine=frequency=440:duration=24 -c:v libx264 -preset ultrafast -g 25 -pix_fmt yuv420p \
    -c:a aac -shortest -f matroska target/test-media-v1/long.mkv
  media=target/test-media-v1/long.mkv
fi
home="$(mktemp -d)"
trap 'rm -rf "$home"; kill "${xvfb:-0}" 2>/dev/null || true' EXIT
display=":$(( 90 + RANDOM % 9 ))"
Xvfb "$display" -screen 0 1280x860x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
sleep 1
export DISPLAY="$display" HOME="$home" XDG_CONFIG_HOME="$home/.config" XDG_DATA_HOME="$home/.local/share"
export TAURI_WEBVIEW_AUTOMATION=true
export GHOSTSTREAM__SERVER__HOST=127.0.0.1 GHOSTSTREAM__SERVER__PORT=0 GHOSTSTREAM__MDNS__ENABLED=false
# The test media server is on loopback, which sources may not reach by default.
export GHOSTSTREAM__SECURITY__ALLOWED_TARGETS='["127.0.0.0/8"]'
dbus-run-session -- node tests/shell/app.mjs "$app" "$PWD/$media" "$shots" "$home"
unset TAURI_WEBVIEW_AUTOMATION
dbus-run-session -- /usr/bin/python3 tests/shell/tray_host.py "$app"
