"""Two-pass against one pass (issue 14), on this machine.

Usage: twopass.py OUR_BINARY MEDIA_DIR RESULT_JSON (bench/run.sh prepares everything).

The same batch request (1080p -> 720p MP4 at a bitrate target) with and without
`two_pass`, for the clean and the grainy 1080p source: how far each output's video
bitrate is from the target, its PSNR against the source scaled to 720p, and the time
each job took.
"""
import json
import os
import re
import subprocess
import tempfile
import time

import bench
from bench import cleanup, headers, row, start, wait_status

TARGET_KBPS = 2000
SOURCES = (("clean1080.mkv", "clean"), ("src1080.mkv", "grainy"))


def measure(client, base, media, src, two_pass):
    t0 = time.monotonic()
    job = start(client, base, {"source": f"{media}/{src}", "mode": "batch",
                               "output": {"resolution": "720p", "format": "mp4", "bitrate": f"{TARGET_KBPS}k",
                                          "two_pass": two_pass}})
    status, _ = wait_status(client, base, job, ["ready", "error"], deadline=1800)
    took = time.monotonic() - t0
    if status.get("status") != "ready":
        raise RuntimeError(f"job ended {status.get('status')}: {status.get('error_message')}")
    data = client.get(status["download_url"], headers=headers(job), timeout=300).content
    cleanup(client, base, job)
    with tempfile.NamedTemporaryFile(suffix=".mp4", delete=False) as f:
        f.write(data)
    try:
        out = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-i", f.name, "-i", os.path.join(bench.MEDIA, src),
                              "-lavfi", "[1:v]scale=1280:720:flags=bicubic[ref];[0:v][ref]psnr", "-f", "null", "-"],
                             capture_output=True, text=True).stderr
        psnr = float(re.search(r"average:([\d.]+)", out).group(1))
        probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                                           "stream=bit_rate", "-of", "json", f.name],
                                          capture_output=True, text=True).stdout)
        kbps = int(probe["streams"][0]["bit_rate"]) / 1000
    finally:
        os.unlink(f.name)
    return kbps, psnr, took


def all_rows(client, base, media):
    for src, label in SOURCES:
        try:
            (k1, p1, t1), (k2, p2, t2) = (measure(client, base, media, src, False),
                                          measure(client, base, media, src, True))
            miss = lambda k: 100.0 * (k / TARGET_KBPS - 1.0)
            row(f"two-pass, {label}: video bitrate off the {TARGET_KBPS}k target", abs(miss(k2)), abs(miss(k1)), "%",
                abs(miss(k2)) - abs(miss(k1)), "closer than one pass",
                f"peer column = one pass: {k1:.0f}k ({miss(k1):+.1f} %) vs two passes {k2:.0f}k ({miss(k2):+.1f} %)")
            row(f"two-pass, {label}: PSNR vs source", p2, p1, "dB", p2 - p1, "–", "peer column = one pass")
            row(f"two-pass, {label}: job time", t2, t1, "s", t2 / t1, "–", "peer column = one pass")
        except Exception as e:
            row(f"two-pass, {label}", None, None, "", None, "", str(e))


def main():
    bench.with_ours(all_rows)


if __name__ == "__main__":
    main()
