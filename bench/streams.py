"""Streams the way viewers use them (issue 17), on this machine.

Usage: streams.py OUR_BINARY MEDIA_DIR RESULT_JSON (bench/run.sh prepares everything).

- Seek to a segment not yet made, on a transcoded 1080p -> 720p stream: the time until
  that segment is playable, median and spread of 5 seeks to 20/40/60/80/90 % (target
  <= 1.0 s p50).
- Concurrent 720p streams from the clean 1080p source: for n = 1, 2, 3 at once, each
  job's encode speed (output seconds per second, from its progress) after 8 s; the
  largest n where every stream holds >= 1.0x is what this machine proves (target 3).
"""
import statistics
import time

import httpx

import bench
from bench import first_playable, headers, media_server, row, start_ours

SRC = "src1080.mkv"


def segment_url(job, n):
    return job["stream_url"].replace("master.m3u8", f"v0_{n:05d}.ts")


def seek_rows(client, base, media):
    job = bench.start(client, base, {"source": f"{media}/{SRC}", "mode": "stream",
                                     "output": {"resolution": "720p"}})
    first_playable(client, job)
    playlist = client.get(job["stream_url"].replace("master.m3u8", "v0.m3u8"), timeout=30).text
    segments = [l.split("?")[0] for l in playlist.splitlines() if l.startswith("v0_")]
    times = []
    for share in (0.2, 0.4, 0.6, 0.8, 0.9):
        n = int(len(segments) * share)
        t0 = time.monotonic()
        r = client.get(segment_url(job, n), timeout=60)
        took = time.monotonic() - t0
        if r.status_code == 200 and bench.decodes(r.content):
            times.append(took)
    client.post(f"{base}/api/transcode/{job['job_id']}/cancel", headers=headers(job), timeout=30)
    if times:
        row("seek to a segment not yet made (1080p -> 720p transcode)", statistics.median(times), None,
            "s", None, "<= 1.0 s p50", f"{len(times)} seeks, {min(times):.2f}-{max(times):.2f} s")


def concurrent_rows(client, base, media):
    proven = 0
    for n in (1, 2, 3):
        # A query of its own per stream: the same URL would join one shared job.
        jobs = [bench.start(client, base, {"source": f"{media}/{SRC}?viewer={n}-{i}", "mode": "stream",
                                           "output": {"resolution": "720p"}}) for i in range(n)]
        time.sleep(8.0)
        speeds = []
        for j in jobs:
            s = client.get(f"{base}/api/transcode/{j['job_id']}/status", headers=headers(j), timeout=30).json()
            t0, p0 = time.monotonic(), s.get("current_time") or 0.0
            time.sleep(4.0)
            s = client.get(f"{base}/api/transcode/{j['job_id']}/status", headers=headers(j), timeout=30).json()
            speeds.append(((s.get("current_time") or 0.0) - p0) / (time.monotonic() - t0))
        for j in jobs:
            client.post(f"{base}/api/transcode/{j['job_id']}/cancel", headers=headers(j), timeout=30)
        time.sleep(2.0)
        holds = all(s >= 1.0 for s in speeds)
        if holds:
            proven = n
        row(f"{n} concurrent 720p streams: slowest stream's speed", min(speeds), None, "x", None, ">= 1.0",
            "each: " + ", ".join(f"{s:.2f}" for s in speeds))
    row("concurrent 720p streams that each hold >= 1.0x", proven, None, "", None, "3", "clean 1080p source")


def main():
    media = media_server()
    ours, base = start_ours({"GHOSTSTREAM__TRANSCODING__MAX_CONCURRENT_JOBS": "4"})
    client = httpx.Client()
    try:
        seek_rows(client, base, media)
        concurrent_rows(client, base, media)
    finally:
        client.close()
        ours.terminate()
        ours.wait()
    bench.save()


if __name__ == "__main__":
    main()
