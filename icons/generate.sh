#!/usr/bin/env bash
# Draws the one source image (source.png) and derives the tray-state icons from it.
# The bundle icon set (32x32.png … icon.icns, icon.ico) comes from `npm run icons`
# (tauri icon), also from source.png. Needs ImageMagick.
set -euo pipefail
cd "$(dirname "$0")"
convert -size 1024x1024 xc:none \
  -fill '#6d4aff' -draw 'roundrectangle 64,64 960,960 200,200' \
  -fill white -draw 'path "M 312 760 L 312 430 C 312 270 432 190 512 190 C 592 190 712 270 712 430 L 712 760 L 642 700 L 577 760 L 512 700 L 447 760 L 382 700 Z"' \
  -fill '#6d4aff' -draw 'circle 440,420 440,465' -draw 'circle 584,420 584,465' \
  -fill '#6d4aff' -draw 'polygon 470,520 470,640 580,580' \
  source.png
# Tray icons: the app icon with a state badge (bottom right).
badge() { # name color
  convert source.png -resize 64x64 \
    -fill "$2" -stroke white -strokewidth 3 -draw 'circle 50,50 50,38' "tray-$1.png"
}
badge idle '#8a8f98'
badge busy '#22c55e'
badge paused '#f59e0b'
badge stopped '#ef4444'
echo "icons: source.png and tray-{idle,busy,paused,stopped}.png written"
