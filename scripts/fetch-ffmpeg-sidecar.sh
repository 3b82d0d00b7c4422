#!/usr/bin/env bash
# For the hosted release workflow only (never run by the build or tests here): puts a
# static ffmpeg and ffprobe for TARGET at src-tauri/binaries/{ffmpeg,ffprobe}-TARGET[.exe],
# the names Tauri's externalBin expects.
set -euo pipefail
target="$1"
cd "$(dirname "$0")/.."
out=src-tauri/binaries
mkdir -p "$out"
tmp="$(mktemp -d)"
case "$target" in
  x86_64-unknown-linux-gnu)
    curl -fsSL https://johnvansickle.com/ffmpeg/releases/ffmpeg-release-amd64-static.tar.xz -o "$tmp/f.tar.xz"
    tar -xJf "$tmp/f.tar.xz" -C "$tmp"
    cp "$tmp"/ffmpeg-*-static/ffmpeg "$out/ffmpeg-$target"
    cp "$tmp"/ffmpeg-*-static/ffprobe "$out/ffprobe-$target"
    ;;
  x86_64-pc-windows-msvc)
    curl -fsSL https://www.gyan.dev/ffmpeg/builds/ffmpeg-release-essentials.zip -o "$tmp/f.zip"
    unzip -q "$tmp/f.zip" -d "$tmp"
    cp "$tmp"/ffmpeg-*-essentials_build/bin/ffmpeg.exe "$out/ffmpeg-$target.exe"
    cp "$tmp"/ffmpeg-*-essentials_build/bin/ffprobe.exe "$out/ffprobe-$target.exe"
    ;;
  aarch64-apple-darwin | x86_64-apple-darwin)
    arch=$([ "$target" = aarch64-apple-darwin ] && echo arm64 || echo amd64)
    for tool in ffmpeg ffprobe; do
      curl -fsSL "https://ffmpeg.martin-riedl.de/redirect/latest/macos/$arch/release/$tool.zip" -o "$tmp/$tool.zip"
      unzip -q -o "$tmp/$tool.zip" -d "$tmp"
      cp "$tmp/$tool" "$out/$tool-$target"
    done
    ;;
  *) echo "no ffmpeg sidecar source for $target" >&2; exit 1 ;;
esac
chmod +x "$out"/* || true
ls -la "$out"
