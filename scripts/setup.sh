#!/usr/bin/env bash
# Installs what GhostStream needs on Debian 12, idempotently.
#   scripts/setup.sh            runtime only (ffmpeg)
#   scripts/setup.sh --desktop  also what the tray app needs to build (webkit2gtk 4.1,
#                               appindicator) and the UI's Node packages
#   scripts/setup.sh --test     everything: the desktop set plus what the tests need
#                               (Chromium, Xvfb, D-Bus, WebKitWebDriver, Node and Python
#                               clients: hls.js, dash.js, playwright-core, the ghoststream
#                               SDK, GStreamer's RTMP publisher)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
want_desktop=0
case "${1:-}" in
  --test) want_test=1; want_desktop=1 ;;
  --desktop) want_desktop=1 ;;
esac

sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo_cmd="sudo"; fi
fi

missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if [ "$want_desktop" = 1 ]; then
  pkg-config --exists webkit2gtk-4.1 2>/dev/null || missing+=(libwebkit2gtk-4.1-dev)
  ls /usr/lib/*/libayatana-appindicator3.so.1 >/dev/null 2>&1 || missing+=(libayatana-appindicator3-1)
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
fi
if [ "$want_test" = 1 ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v Xvfb >/dev/null 2>&1 || missing+=(xvfb)
  command -v dbus-run-session >/dev/null 2>&1 || missing+=(dbus)
  command -v WebKitWebDriver >/dev/null 2>&1 || missing+=(webkit2gtk-driver)
  command -v ss >/dev/null 2>&1 || missing+=(iproute2)
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)  # promtool checks /metrics
  command -v ionice >/dev/null 2>&1 || missing+=(util-linux)    # reads ffmpeg's I/O priority back
  # An RTMP publisher independent of ffmpeg: GStreamer's rtmp2sink (bad), flvmux (good),
  # x264enc (ugly), voaacenc (bad).
  command -v gst-launch-1.0 >/dev/null 2>&1 || missing+=(gstreamer1.0-tools)
  gst_has() { command -v gst-inspect-1.0 >/dev/null 2>&1 && gst-inspect-1.0 "$1" >/dev/null 2>&1; }
  gst_has rtmp2sink || missing+=(gstreamer1.0-plugins-bad)
  gst_has flvmux || missing+=(gstreamer1.0-plugins-good)
  gst_has x264enc || missing+=(gstreamer1.0-plugins-ugly)
  # Mesa's lavapipe: Vulkan on the CPU, so libplacebo's Dolby Vision path runs here.
  ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1 || missing+=(mesa-vulkan-drivers)
  # Closes the app's window as a window manager would (WM_DELETE_WINDOW) under Xvfb.
  /usr/bin/python3 -c 'import Xlib' >/dev/null 2>&1 || missing+=(python3-xlib)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]} with apt"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 update -qq
  $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo was not found. Install the Rust toolchain (rustup, 1.85 or newer) and run again." >&2
  exit 1
fi

if [ "$want_desktop" = 1 ]; then
  if [ ! -f node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ]; then
    echo "setup: npm install (UI and Tauri CLI)"
    npm install --no-audit --no-fund --loglevel=error
  fi
fi
if [ "$want_test" = 1 ]; then
  # Test clients: hls.js and playwright-core (drives Debian's Chromium; no browser download).
  if [ ! -f tests/node_modules/.package-lock.json ] || [ tests/package.json -nt tests/node_modules/.package-lock.json ]; then
    echo "setup: npm install in tests/"
    (cd tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error)
  fi
  # The published Python SDK, as a real client.
  if [ ! -x tests/.venv/bin/python ] || ! tests/.venv/bin/python -c 'import ghoststream, schemathesis, tusclient' >/dev/null 2>&1; then
    echo "setup: creating tests/.venv (ghoststream 1.2.6, schemathesis, tuspy)"
    python3 -m venv tests/.venv
    tests/.venv/bin/pip install -q --disable-pip-version-check -r tests/sdk/requirements.txt
  fi
fi
echo "setup: ok (ffmpeg $(ffmpeg -version | head -1 | awk '{print $3}'))"
