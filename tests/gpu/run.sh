#!/usr/bin/env bash
# The GPU check (issue 14), for a machine with an NVIDIA GPU: NVDEC, CUDA and NVML there,
# NVENC possibly not (a data-centre card). One command, at most 8 minutes:
#
#   bash tests/gpu/run.sh [path/to/ghoststream]
#
# It starts the real server on 127.0.0.1:0 and proves, printing each figure:
# - NVML: the GPU's name, VRAM, utilisation and temperature in /api/resources;
# - the NVENC trial: listed unavailable with its reason when the card has no encoder;
# - CUDA decoding proven per format (/api/capabilities `decode`), and real jobs from an
#   H.264 and an HEVC 10-bit 1080p source that decode on CUDA, scale with scale_cuda and
#   read back for libx264 (the job's argv), ready, and playable;
# - the decoder busy in NVML while those jobs run, and attributed to the job (its `gpu`
#   field and /api/resources `gpus[].jobs`, from NVML's per-process figures);
# - overlay_cuda (picture subtitles drawn on NVDEC's frames) proven;
# - GPU tone mapping proven or not, with the reason, and an HDR10 job through it.
# Exit status: 0 when every check that the machine can answer passed.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin="${1:-target/release/ghoststream}"
[ -x "$bin" ] || bin="target/debug/ghoststream"
if [ ! -x "$bin" ]; then
  echo "gpu: no ghoststream binary (build it, or carry target/release/ghoststream)" >&2
  exit 2
fi
for tool in ffmpeg ffprobe curl python3; do
  command -v "$tool" >/dev/null || { echo "gpu: $tool is missing" >&2; exit 2; }
done
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "gpu: nvidia-smi not found"

work=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail=0
check() { if [ "$1" = ok ]; then echo "PASS $2"; else echo "FAIL $2"; fail=1; fi; }

echo "gpu: making sources"
ffmpeg -hide_banner -loglevel error -nostdin -y -f lavfi -i testsrc2=size=1920x1080:rate=30:duration=10 \
  -c:v libx264 -preset veryfast -pix_fmt yuv420p "$work/h264.mkv"
ffmpeg -hide_banner -loglevel error -nostdin -y -f lavfi -i testsrc2=size=1920x1080:rate=30:duration=10 \
  -c:v libx265 -preset ultrafast -x265-params log-level=error -pix_fmt yuv420p10le "$work/hevc10.mkv"

GHOSTSTREAM__SECURITY__JOB_TOKENS=open GHOSTSTREAM__DISCOVERY__UDP_ENABLED=false \
GHOSTSTREAM__TRANSCODING__LIBRARY_ROOTS="[\"$work\"]" GHOSTSTREAM_CONFIG="$work/g.toml" \
  "$bin" serve --host 127.0.0.1 --port 0 --no-mdns --state-dir "$work/state" >"$work/out" 2>"$work/err" &
server=$!
base=""
for _ in $(seq 1 120); do
  base=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/out" | head -1)
  [ -n "$base" ] && curl -fs "$base/api/health" >/dev/null && break
  sleep 0.5
done
[ -n "$base" ] || { echo "gpu: the server did not start"; cat "$work/err"; exit 1; }
echo "gpu: server at $base"

json() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }

echo "--- /api/resources (NVML)"
curl -fs "$base/api/resources" | json '
g=d["gpus"]
print(json.dumps(g, indent=1))
ok=bool(g) and all(x.get(k) is not None for x in g for k in ("memory_total_mb","utilization_percent","temperature_c"))
print("nvml", "ok" if ok else "missing")' | tee "$work/nvml"
check "$(tail -1 "$work/nvml" | awk '{print $2}')" "NVML: name, VRAM, utilisation, temperature"

echo "--- /api/capabilities"
curl -fs "$base/api/capabilities" | json '
nv=[a for a in d["hw_accels"] if a["type"]=="nvenc"][0]
print(json.dumps(nv, indent=1))
print("nvenc_listed", "ok" if nv["available"] or nv.get("reason") else "bad")
print("decode", "ok" if "h264" in nv.get("decode",[]) else "bad")
print("overlay", "ok" if nv.get("overlay") == "overlay_cuda" else "bad")' | tee "$work/caps"
check "$(grep '^nvenc_listed' "$work/caps" | awk '{print $2}')" "NVENC: available, or unavailable with its reason"
check "$(grep '^decode' "$work/caps" | awk '{print $2}')" "CUDA decoding proven for H.264"
check "$(grep '^overlay' "$work/caps" | awk '{print $2}')" "picture subtitles drawn on the GPU: overlay_cuda proven"

for src in h264 hevc10; do
  echo "--- batch job, $src 1080p -> 720p"
  job=$(curl -fs -X POST "$base/api/transcode/start" -H 'Content-Type: application/json' \
    -d "{\"source\":\"$work/$src.mkv\",\"mode\":\"batch\",\"output\":{\"resolution\":\"720p\",\"hw_accel\":\"software\"}}" |
    json 'print(d["job_id"])')
  busy=0
  mine=0
  for _ in $(seq 1 240); do
    s=$(curl -fs "$base/api/transcode/$job/status" | json 'print(d["status"])')
    dec=$(curl -fs "$base/api/resources" | json 'print(max([g.get("decoder_percent") or 0 for g in d["gpus"]] or [0]))')
    [ "${dec:-0}" -gt 0 ] && busy=1
    own=$(curl -fs "$base/api/transcode/$job/status" | json 'g=d.get("gpu") or {}; print(1 if (g.get("decoder_percent") or 0) > 0 or (g.get("memory_mb") or 0) > 0 else 0)')
    [ "${own:-0}" = 1 ] && mine=1
    [ "$s" = ready ] || [ "$s" = error ] && break
    sleep 0.5
  done
  log=$(curl -fs "$base/api/transcode/$job/log")
  echo "$log" | grep '^\$ ffmpeg' | head -3
  echo "$log" | grep -q -- '-hwaccel cuda -hwaccel_output_format cuda' && echo "$log" | grep -q scale_cuda &&
    echo "$log" | grep -q 'hwdownload' && r=ok || r=bad
  [ "$src" = hevc10 ] && echo "$log" | grep -q 'decoding in software' && r=ok-software
  check "$([ "$s" = ready ] && echo ok || echo bad)" "$src job ready ($s)"
  echo "$src: argv $r, NVML decoder busy during the job: $busy, attributed to the job: $mine"
  [ "$r" = ok ] && check "$([ "$mine" = 1 ] && echo ok || echo bad)" "$src: NVML's per-process figures on the job"
  [ "$r" = bad ] && check bad "$src decoded by CUDA, scaled by scale_cuda, read back for libx264"
done

echo "--- GPU tone mapping (libplacebo on Vulkan, tonemap_opencl, tonemap_vaapi)"
tone=$(curl -fs "$base/api/capabilities" | json 'print(",".join(d.get("gpu_tone_mapping") or [])); print(d.get("gpu_tone_mapping_reason") or "", file=sys.stderr)')
echo "proven: ${tone:-none (zscale on the CPU)}"
if [ -n "$tone" ]; then
  ffmpeg -hide_banner -loglevel error -nostdin -y -f lavfi -i testsrc2=size=1920x1080:rate=30:duration=6 \
    -c:v libx265 -preset ultrafast -pix_fmt yuv420p10le \
    -x265-params log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc \
    -color_primaries bt2020 -color_trc smpte2084 -colorspace bt2020nc "$work/hdr10.mkv"
  job=$(curl -fs -X POST "$base/api/transcode/start" -H 'Content-Type: application/json' \
    -d "{\"source\":\"$work/hdr10.mkv\",\"mode\":\"batch\",\"output\":{\"resolution\":\"720p\"}}" | json 'print(d["job_id"])')
  for _ in $(seq 1 240); do
    s=$(curl -fs "$base/api/transcode/$job/status" | json 'print(d["status"])')
    [ "$s" = ready ] || [ "$s" = error ] && break
    sleep 0.5
  done
  curl -fs "$base/api/transcode/$job/log" | grep '^\$ ffmpeg' | head -1
  check "$([ "$s" = ready ] && echo ok || echo bad)" "HDR10 1080p -> 720p SDR tone-mapped on the GPU (${tone%%,*}): $s"
fi
exit $fail
