#!/usr/bin/env bash
# Builds the installers, release profile: the app, with the headless `ghoststream` CLI
# next to it (on Linux /usr/bin/ghoststream, and a systemd user unit).
#   scripts/bundle.sh                    the .deb, for this machine
#   scripts/bundle.sh deb,rpm,appimage   those bundles
#   scripts/bundle.sh nsis,msi --target x86_64-pc-windows-msvc -c src-tauri/tauri.release.json
# Extra arguments go to `tauri build` (the release workflow adds the ffmpeg sidecar config).
# Writes to target/[TRIPLE/]release/bundle/.
set -euo pipefail
cd "$(dirname "$0")/.."
bundles="${1:-deb}"
shift || true
target=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[i]}" = --target ] && target="${args[i+1]:-}"
done
triple="${target:-$(rustc -vV | sed -n 's/^host: //p')}"
ext=""
case "$triple" in *windows*) ext=".exe" ;; esac
out="target/${target:+$target/}release"
cargo build --release --locked -p ghoststream-server --bin ghoststream ${target:+--target "$target"}
mkdir -p src-tauri/binaries
cp "$out/ghoststream$ext" "src-tauri/binaries/ghoststream-$triple$ext"
CI=true npx tauri build --bundles "$bundles" -c src-tauri/tauri.bundle.json "${args[@]}"
ls -l "$out"/bundle/*/* 2>/dev/null | grep -E '\.(deb|rpm|AppImage|exe|msi|dmg)$' || true
