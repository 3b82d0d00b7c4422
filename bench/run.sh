#!/usr/bin/env bash
# One command: builds GhostStream (release), installs the published GhostStream 1.2.6 from
# PyPI into bench/.venv, generates the media, measures both and raw ffmpeg, prints a table
# and writes bench/results/last.json. Benchmarks are not tests: this always exits 0.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if ! command -v wrk >/dev/null 2>&1; then
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends wrk >/dev/null 2>&1 || echo "bench: wrk not installed; the HTTP rate row will be skipped"
fi
cargo build --release --locked -p ghoststream-server --bin ghoststream || exit 0
if [ ! -x bench/.venv/bin/python ] || ! bench/.venv/bin/python -c 'import ghoststream, websocket' 2>/dev/null; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q --disable-pip-version-check "ghoststream[server]==1.2.6" websocket-client
fi
mkdir -p bench/media bench/results
gen() { # name, ffmpeg args…
  local out="bench/media/$1"; shift
  [ -f "$out" ] || { echo "bench: generating $out"; ffmpeg -hide_banner -loglevel error -nostdin -y "$@" "$out.tmp.mkv" && mv "$out.tmp.mkv" "$out"; }
}
gen src1080.mkv -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=30,noise=alls=10:allf=t" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=30" -c:v libx264 -preset veryfast -crf 20 -g 60 \
  -pix_fmt yuv420p -c:a aac -b:a 128k -shortest
# The same picture without the grain, at a web-typical 9 Mbit/s (the grainy one is 89).
gen clean1080.mkv -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=30" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=30" -c:v libx264 -preset veryfast -crf 18 -g 60 \
  -pix_fmt yuv420p -c:a aac -b:a 128k -shortest
gen hevc10_51.mkv -f lavfi -i "testsrc2=size=1920x1080:rate=24:duration=20" \
  -f lavfi -i "sine=frequency=300:sample_rate=48000:duration=20" -filter_complex "[1:a]pan=5.1|FL=c0|FR=c0|FC=c0|LFE=c0|BL=c0|BR=c0[a]" \
  -map 0:v -map "[a]" -c:v libx265 -preset ultrafast -x265-params log-level=error -pix_fmt yuv420p10le -c:a ac3 -shortest
# HDR10: HEVC 10-bit, PQ, BT.2020.
gen hdr1080.mkv -f lavfi -i "testsrc2=size=1920x1080:rate=24:duration=30" \
  -c:v libx265 -preset ultrafast -x265-params log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc \
  -pix_fmt yuv420p10le -color_primaries bt2020 -color_trc smpte2084 -colorspace bt2020nc
gen long720.mkv -f lavfi -i "testsrc2=size=1280x720:rate=25:duration=600" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=600" -c:v libx264 -preset ultrafast -g 50 \
  -pix_fmt yuv420p -c:a aac -b:a 128k -shortest
# The same 10 minutes in MP4 (moov first, as a web-ready file has it).
[ -f bench/media/long720.mp4 ] || ffmpeg -hide_banner -loglevel error -nostdin -y -i bench/media/long720.mkv -c copy \
  -movflags +faststart bench/media/long720.tmp.mp4 && mv bench/media/long720.tmp.mp4 bench/media/long720.mp4
bench/.venv/bin/python bench/bench.py target/release/ghoststream bench/media bench/results/last.json || true
bench/.venv/bin/python bench/gaming.py target/release/ghoststream bench/media bench/results/gaming.json || true
bench/.venv/bin/python bench/uploads.py target/release/ghoststream bench/media bench/results/uploads.json || true
bench/.venv/bin/python bench/first.py target/release/ghoststream bench/media bench/results/first.json || true
bench/.venv/bin/python bench/history.py target/release/ghoststream bench/media bench/results/history.json || true
bench/.venv/bin/python bench/latency.py target/release/ghoststream bench/media bench/results/latency.json || true
bench/.venv/bin/python bench/streams.py target/release/ghoststream bench/media bench/results/streams.json || true
bench/.venv/bin/python bench/twopass.py target/release/ghoststream bench/media bench/results/twopass.json || true
bench/.venv/bin/python bench/hdr.py target/release/ghoststream bench/media bench/results/hdr.json || true
bench/.venv/bin/python bench/live.py target/release/ghoststream bench/media bench/results/live.json || true
exit 0
