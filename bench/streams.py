"""Streams the way viewers use them (issue 17), on this machine.

Usage: streams.py OUR_BINARY MEDIA_DIR RESULT_JSON (bench/run.sh prepares everything).

From the clean 1080p source (9 Mbit/s) and the grainy one (89 Mbit/s):
- Seek to a segment not yet made, on a transcoded 1080p -> 720p stream: the time until
  that segment is playable, median and spread of 5 seeks to 30/45/60/75/90 %, each on a
  job of its own after its first segment played (target <= 1.0 s p50), each marked as a
  restart or a wait for the run already making it; beside it raw ffmpeg started with each
  restart's own argv (from the job's log, after the job is cancelled), timed until its
  first segment is listed and decodes.
- The machine's floor for each source: raw ffmpeg decoding 10 s of it and scaling to
  720p, encoding nothing (output seconds per second). No stream of it can be faster, and
  n streams share it.
- Concurrent 720p streams: for n at once, every job's encode speed (output seconds per
  second, from its progress) between 6 s and 10 s, all measured over the same seconds;
  the largest n where every stream holds >= 1.0x is what this machine proves (target 3
  clean, 2 grainy).
- ABR with a 720p top rung (720p, 480p, 360p from one decode): its encode speed between
  6 s and 10 s (target >= 1.2x); beside it raw ffmpeg with the job's own argv on 12 s of
  the source, timed from start to exit.
"""
import os
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time


import bench
from bench import first_playable, headers, row
from first import raw_first

SOURCES = (("clean1080.mkv", "clean"), ("src1080.mkv", "grainy"))


def segment_url(job, n):
    return job["stream_url"].replace("master.m3u8", f"v0_{n:05d}.ts")


def seek_rows(client, base, media, src, label):
    """Seeks the way a viewer makes them: a stream plays its first segment, then the viewer
    jumps to 30/45/60/75/90 % of it. A job of its own per seek, so each lands on a
    segment no run is near (on one job, seeks a few segments apart became requests for
    the segment after the one just fetched: playback, not a seek)."""
    times, argvs, kinds = [], [], []
    for i, share in enumerate((0.3, 0.45, 0.6, 0.75, 0.9)):
        job = bench.start(client, base, {"source": f"{media}/{src}?seek={i}", "mode": "stream",
                                         "output": {"resolution": "720p"}})
        first_playable(client, job)
        playlist = client.get(job["stream_url"].replace("master.m3u8", "v0.m3u8"), timeout=30).text
        segments = [l.split("?")[0] for l in playlist.splitlines() if l.startswith("v0_")]
        n = int(len(segments) * share)
        t0 = time.monotonic()
        r = client.get(segment_url(job, n), timeout=60)
        took = time.monotonic() - t0
        if r.status_code == 200 and bench.decodes(r.content):
            times.append(took)
            # A restart logs why, then its run: that argv is the seek's. Otherwise the
            # request waited for the run already making it.
            lines = client.get(f"{base}/api/transcode/{job['job_id']}/log", headers=headers(job), timeout=30).text.splitlines()
            at = [k for k, l in enumerate(lines) if "restarting there" in l]
            if at:
                argvs.append(shlex.split(next(l[2:] for l in lines[at[-1]:] if l.startswith("$ "))))
            kinds.append(f"{took:.2f} {'restart' if at else 'wait'}")
        client.post(f"{base}/api/transcode/{job['job_id']}/cancel", headers=headers(job), timeout=30)
        time.sleep(1.0)
    if times:
        row(f"seek to a segment not yet made (1080p -> 720p transcode, {label})", statistics.median(times), None,
            "s", None, "<= 1.0 s p50", f"{len(times)} seeks: " + ", ".join(kinds))
    if argvs:
        # Each restart's run alone, with nothing else running.
        raws = [raw_first(a) for a in argvs]
        row(f"... raw ffmpeg, each restart's argv: start -> its segment ({label})", statistics.median(raws), None,
            "s", None, "", ", ".join(f"{r:.2f}" for r in raws))


def floor_row(media, src, label):
    """Raw ffmpeg decoding 10 s of the source and scaling it to 720p, nothing encoded."""
    t0 = time.monotonic()
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-ss", "10", "-t", "10",
                    "-i", f"{media}/{src}", "-an", "-vf", "scale=1280:720", "-f", "null", "-"], check=True)
    row(f"machine floor: raw ffmpeg decode + scale to 720p, nothing encoded ({label})",
        10 / (time.monotonic() - t0), None, "x", None, "", "no stream of this source is faster; n streams share it")


def speeds_of(client, base, jobs, settle=6.0, window=4.0):
    """Each job's output seconds per second over the same `window`, after `settle`, from
    its progress sampled every 0.5 s while it is still encoding. A stream fast enough to
    finish the 30 s source before the window ends is measured over its last `window`
    seconds of encoding instead, not counted as stalled once it has finished."""
    t0 = time.monotonic()
    samples = [[] for _ in jobs]
    while True:
        now = time.monotonic() - t0
        for j, mine in zip(jobs, samples):
            st = client.get(f"{base}/api/transcode/{j['job_id']}/status", headers=headers(j), timeout=30).json()
            if st.get("status") == "processing" and st.get("current_time") is not None:
                mine.append((time.monotonic() - t0, st["current_time"]))
        if now >= settle + window:
            break
        time.sleep(0.5)
    speeds = []
    for mine in samples:
        inside = [x for x in mine if x[0] >= settle]
        if len(inside) < 2 and mine:
            inside = [x for x in mine if x[0] >= mine[-1][0] - window]
        if len(inside) >= 2 and inside[-1][0] > inside[0][0]:
            speeds.append((inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0]))
        else:
            speeds.append(0.0)
    return speeds


def cancel_all(client, base, jobs):
    for j in jobs:
        client.post(f"{base}/api/transcode/{j['job_id']}/cancel", headers=headers(j), timeout=30)
    time.sleep(2.0)


def concurrent_rows(client, base, media, src, label, most):
    proven = 0
    for n in range(1, most + 1):
        # A query of its own per stream: the same URL would join one shared job.
        jobs = [bench.start(client, base, {"source": f"{media}/{src}?viewer={n}-{i}", "mode": "stream",
                                           "output": {"resolution": "720p"}}) for i in range(n)]
        speeds = speeds_of(client, base, jobs)
        cancel_all(client, base, jobs)
        if all(s >= 1.0 for s in speeds) and proven == n - 1:
            proven = n
        row(f"{n} concurrent 720p streams ({label}): slowest stream's speed", min(speeds), None, "x", None, ">= 1.0",
            "each: " + ", ".join(f"{s:.2f}" for s in speeds))
    row(f"concurrent 720p streams that each hold >= 1.0x ({label})", proven, None, "", None,
        "3" if label == "clean" else "2", f"{label} 1080p source")


def abr_row(client, base, media, src, label):
    job = bench.start(client, base, {"source": f"{media}/{src}?abr", "mode": "abr", "output": {"resolution": "720p"}})
    rungs = [v.get("resolution") for v in job.get("variants") or []]
    speed = speeds_of(client, base, [job])[0]
    log = client.get(f"{base}/api/transcode/{job['job_id']}/log", headers=headers(job), timeout=30).text
    argv = shlex.split([l[2:] for l in log.splitlines() if l.startswith("$ ")][-1])
    cancel_all(client, base, [job])
    row(f"ABR, 720p top rung ({label}): encode speed", speed, None, "x", None, ">= 1.2", "rungs " + ", ".join(map(str, rungs)))
    row(f"... raw ffmpeg, the ABR job's argv on 12 s of the source ({label})", raw_speed(argv, 12.0), None, "x", None, "",
        "start to end, nothing else running")


def raw_speed(argv, secs):
    """Output seconds per second of ffmpeg run with a job's `argv`, on `secs` of input,
    writing into a directory of its own, timed from start to exit."""
    out = tempfile.mkdtemp(prefix="gs-raw-")
    job_dir = os.path.dirname(argv[-1])
    argv = [a.replace(job_dir, out) for a in argv]
    at = argv.index("-i")
    argv[at:at] = ["-t", f"{secs:.3f}"]
    t0 = time.monotonic()
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    took = time.monotonic() - t0
    shutil.rmtree(out, ignore_errors=True)
    return secs / took


def all_rows(client, base, media):
    for src, label in SOURCES:
        floor_row(media, src, label)
        seek_rows(client, base, media, src, label)
        concurrent_rows(client, base, media, src, label, 3 if label == "clean" else 2)
        abr_row(client, base, media, src, label)


def main():
    bench.with_ours(all_rows, {"GHOSTSTREAM__TRANSCODING__MAX_CONCURRENT_JOBS": "4"})


if __name__ == "__main__":
    main()
