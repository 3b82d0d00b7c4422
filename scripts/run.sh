#!/usr/bin/env bash
# Starts GhostStream. Installs ffmpeg if it is missing, builds, and runs the server on
# 0.0.0.0:8765 (override with GHOSTSTREAM__SERVER__PORT, a config file via --config, or
# flags: scripts/run.sh serve --port 9000). The tray app joins here once it exists; on
# machines without a display this is the headless server either way.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked -p ghoststream-server --bin ghoststream
if [ "$#" -eq 0 ]; then set -- serve; fi
exec target/release/ghoststream "$@"
