"""The first picture (issue 17): POST → first playable segment, against raw ffmpeg with the
job's own argv, on this machine.

Usage: first.py OUR_BINARY MEDIA_DIR RESULT_JSON (bench/run.sh prepares everything).

Rows, each the median of RUNS runs with the spread:
- 1080p H.264 → 720p stream, from a clean 9 Mbit/s source and from the grainy 89 Mbit/s
  one: POST → the first segment listed and its bytes fetched (they must decode), the way
  a player sees it; and raw ffmpeg started with the job's first argv, timed from its
  start until its segment list names the first segment (which must decode). Target
  <= 1.0 s and <= raw + 0.15 s.
- remux (H.264/AAC copied) of an MKV and of an MP4 source: POST → first playable segment
  (target <= 0.25 s).
"""
import os
import shlex
import statistics
import subprocess
import tempfile
import time

import httpx

import bench
from bench import cleanup, decodes, first_playable, headers, media_server, row, start_ours

RUNS = 5


def spread(xs):
    return f"median of {len(xs)}, {min(xs):.2f}–{max(xs):.2f} s"


def ours_first(client, base, body):
    t0 = time.monotonic()
    job = bench.start(client, base, body)
    took = time.monotonic() - t0 + first_playable(client, job)
    return took, job


def raw_first(argv):
    """Seconds from spawning ffmpeg with `argv` until its list names a decodable first
    segment; ffmpeg is then stopped."""
    out = tempfile.mkdtemp(prefix="gs-raw-")
    # The job's output directory becomes ours: every path under it is rewritten.
    job_dir = os.path.dirname(argv[-1])
    argv = [a.replace(job_dir, out) for a in argv]
    lists = [a for a in argv if a.endswith(".csv")]
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - t0 < 60:
            try:
                with open(lists[0]) as f:
                    line = f.readline()
                if line.endswith("\n"):
                    listed = time.monotonic() - t0
                    with open(os.path.join(out, line.split(",")[0]), "rb") as f:
                        if decodes(f.read()):
                            return listed
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError("raw ffmpeg made no segment in 60 s")
    finally:
        p.kill()
        p.wait()


def main():
    media = media_server()
    srv, base = start_ours()
    client = httpx.Client()
    try:
        for src, label in (("clean1080.mkv", "clean 9 Mbit/s"), ("src1080.mkv", "grainy 89 Mbit/s")):
            body = {"source": f"{media}/{src}", "mode": "stream", "output": {"resolution": "720p"}}
            ours, raws = [], []
            # The first pass warms the page cache and is not counted.
            for i in range(RUNS + 1):
                # A new URL each time (a query string the file server ignores): nothing cached.
                b = dict(body, source=f"{body['source']}?run={i}")
                took, job = ours_first(client, base, b)
                log = client.get(f"{base}/api/transcode/{job['job_id']}/log", headers=headers(job)).text
                cmd = next(l[2:] for l in log.splitlines() if l.startswith("$ "))
                cleanup(client, base, job)
                raw = raw_first(shlex.split(cmd))
                if i > 0:
                    ours.append(took)
                    raws.append(raw)
            o, r = statistics.median(ours), statistics.median(raws)
            row(f"POST → first playable segment, 1080p→720p stream ({label})", o, None, "s", None, "≤ 1.0 s", spread(ours))
            row("… raw ffmpeg, the job's first argv: start → first segment", r, None, "s", None, "", spread(raws))
            row("… ours − raw ffmpeg", o - r, None, "s", None, "≤ 0.15 s",
                f"per run: {', '.join(f'{a - b:+.2f}' for a, b in zip(ours, raws))}")
        for name in ("long720.mkv", "long720.mp4"):
            times = []
            for i in range(RUNS):
                took, job = ours_first(client, base, {"source": f"{media}/{name}?run={i}", "mode": "stream"})
                cleanup(client, base, job)
                times.append(took)
            row(f"remux {name.split('.')[1].upper()}: POST → first playable segment", statistics.median(times),
                None, "s", None, "≤ 0.25 s", spread(times))
    finally:
        srv.terminate()
        srv.wait()
    bench.save()


if __name__ == "__main__":
    main()
