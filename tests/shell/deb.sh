#!/usr/bin/env bash
# The .deb as a user gets it: installed with apt, the app started where there is no
# display (the headless hint, exit 1), --help and --version, the `ghoststream` CLI it
# installs serving /api/health, the systemd user unit, and removal by the package name.
# Usage: tests/shell/deb.sh PATH.deb   (root, or sudo)
set -euo pipefail
deb="$(realpath "$1")"
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
fail() { echo "deb: $*" >&2; exit 1; }
ok() { echo "ok $*"; }

[ "$(dpkg-deb -f "$deb" Package)" = ghoststream ] || fail "package name is $(dpkg-deb -f "$deb" Package)"
dpkg-deb -f "$deb" Depends | grep -q ffmpeg || fail "does not depend on ffmpeg"
ok "package ghoststream $(dpkg-deb -f "$deb" Version), $(du -h "$deb" | cut -f1); Depends: $(dpkg-deb -f "$deb" Depends)"

$sudo_cmd apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$deb" >/dev/null
home="$(mktemp -d)"
cleanup() {
  kill "${serve:-0}" 2>/dev/null || true
  rm -rf "$home"
  $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 remove -y -qq ghoststream >/dev/null
  dpkg -s ghoststream >/dev/null 2>&1 && fail "apt remove ghoststream left it installed" || true
}
trap cleanup EXIT
for f in /usr/bin/ghoststream /usr/bin/ghoststream-tray; do [ -x "$f" ] || fail "$f missing"; done
unit=/usr/lib/systemd/user/ghoststream.service
grep -q '^ExecStart=/usr/bin/ghoststream serve$' "$unit" || fail "$unit missing or wrong"
desktop="$(dpkg -L ghoststream | grep '\.desktop$' | head -1)"
grep -q '^Name=GhostStream$' "$desktop" && grep -q '^Exec=ghoststream-tray' "$desktop" || fail "$desktop: $(cat "$desktop")"
ok "installed: /usr/bin/ghoststream ($(du -h /usr/bin/ghoststream | cut -f1)), /usr/bin/ghoststream-tray ($(du -h /usr/bin/ghoststream-tray | cut -f1)), $unit, $desktop"

export HOME="$home" XDG_CONFIG_HOME="$home/.config" XDG_DATA_HOME="$home/.local/share"
rc=0
out="$(env -u DISPLAY -u WAYLAND_DISPLAY /usr/bin/ghoststream-tray 2>&1)" || rc=$?
[ "$rc" = 1 ] || fail "the app without a display exited $rc: $out"
grep -q 'ghoststream serve' <<<"$out" || fail "no hint without a display: $out"
grep -qi 'panicked\|backtrace' <<<"$out" && fail "a panic without a display: $out"
ok "the app without a display says what to run instead and exits 1"
/usr/bin/ghoststream-tray --version | grep -q '^ghoststream-tray ' || fail "--version"
/usr/bin/ghoststream-tray --help | grep -q -- '--minimized' || fail "--help"
rc=0; /usr/bin/ghoststream-tray --bogus >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "an unknown argument exited $rc"
ok "--help, --version, and an unknown argument (exit 2)"

/usr/bin/ghoststream --version | grep -q ghoststream || fail "ghoststream --version"
/usr/bin/ghoststream config --example | grep -q '\[server\]' || fail "config --example"
/usr/bin/ghoststream serve --host 127.0.0.1 --port 0 --no-mdns >"$home/serve.out" 2>&1 &
serve=$!
port=""
for _ in $(seq 1 150); do
  port="$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$home/serve.out" | head -1 | cut -d: -f3 || true)"
  [ -n "$port" ] && break
  sleep 0.2
done
[ -n "$port" ] || fail "ghoststream serve printed no address: $(cat "$home/serve.out")"
health="$(curl -fsS "http://127.0.0.1:$port/api/health")" || fail "no /api/health"
grep -q '"status"' <<<"$health" || fail "health: $health"
ok "the installed ghoststream serve answers /api/health: $health"
