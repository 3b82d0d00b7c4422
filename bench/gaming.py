"""Manners on a gaming PC (issue 15), measured on this machine.

Usage: gaming.py OUR_BINARY MEDIA_DIR RESULT_JSON (bench/run.sh prepares the media).

A CPU "game" (ffmpeg encoding 720p at normal priority, as a game's main loop would use
the CPU) runs alone, then beside one of our 1080p → 720p batch jobs at each
`gaming.priority`; its throughput is compared with the solo run (target at `idle`:
>= 0.9x). Then a running job is frozen through the API and the CPU its processes use
0.5 s later is read from /proc (target: none).
"""
import os
import subprocess
import sys
import time
import urllib.request

import common
from common import call, children, row

OURS, MEDIA, OUT = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3]
GAME_FRAMES = 450
TICK = os.sysconf("SC_CLK_TCK")


def game():
    """Frames per second of the stand-in game."""
    t0 = time.monotonic()
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
         "-i", "testsrc2=size=1280x720:rate=30", "-frames:v", str(GAME_FRAMES),
         "-c:v", "libx264", "-preset", "veryfast", "-f", "null", "-"],
        check=True,
    )
    return GAME_FRAMES / (time.monotonic() - t0)


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except OSError:
            pass
    return total


def server(priority):
    p, base, _ = common.server(OURS, MEDIA, GHOSTSTREAM__GAMING__PRIORITY=priority,
                               GHOSTSTREAM__GAMING__WHEN_PLAYING="nothing")
    return p, base


def busy_job(base, pid):
    j = call(base, "POST", "/api/transcode/start",
             {"source": os.path.join(MEDIA, "src1080.mkv"), "mode": "batch",
              "output": {"resolution": "720p"}})
    for _ in range(100):
        if children(pid):
            break
        time.sleep(0.1)
    time.sleep(1.0)
    return j


def fetch_timed(url):
    t0 = time.monotonic()
    with urllib.request.urlopen(url, timeout=120) as r:
        r.read()
    return time.monotonic() - t0


def thaw_to_segment():
    """A viewer watches a 1080p -> 720p stream; it is frozen mid-segment and thawed. The
    next segment arrives within 1 s plus one segment's encode time (target)."""
    p, base = server("low")
    try:
        j = call(base, "POST", "/api/transcode/start",
                 {"source": os.path.join(MEDIA, "src1080.mkv"), "mode": "stream",
                  "output": {"resolution": "720p"}})
        seg = lambda n: j["stream_url"].replace("master.m3u8", f"v0_{n:05d}.ts")
        # Segments 1-3 are 4 s each (0 is the short first one): their encode time.
        fetch_timed(seg(1))
        t0 = time.monotonic()
        fetch_timed(seg(3))
        per_segment = (time.monotonic() - t0) / 2
        call(base, "POST", f"/api/transcode/{j['job_id']}/pause")
        time.sleep(2.0)
        call(base, "POST", f"/api/transcode/{j['job_id']}/resume")
        took = fetch_timed(seg(4))
        row("thaw -> next segment (4 s of 1080p -> 720p)", took, "s", f"<= {1 + per_segment:.2f}",
            f"1 s + one segment's encode time ({per_segment:.2f} s)")
        call(base, "POST", f"/api/transcode/{j['job_id']}/cancel")
    finally:
        p.terminate()
        p.wait()


def main():
    solo = game()
    row("game alone (720p x264 at normal priority)", solo, "fps", "–")
    for priority in ["normal", "low", "idle"]:
        p, base = server(priority)
        try:
            j = busy_job(base, p.pid)
            beside = game()
            target = ">= 0.9" if priority == "idle" else "–"
            row(f"game beside our 1080p->720p job at {priority}: share of solo", beside / solo, "x", target,
                f"{beside:.1f} fps")
            call(base, "POST", f"/api/transcode/{j['job_id']}/cancel")
        finally:
            p.terminate()
            p.wait()
    p, base = server("low")
    try:
        j = busy_job(base, p.pid)
        kids = children(p.pid)
        t0 = time.monotonic()
        call(base, "POST", f"/api/transcode/{j['job_id']}/pause")
        answered = time.monotonic() - t0
        time.sleep(0.5)
        a = cpu_ticks(kids)
        time.sleep(1.0)
        b = cpu_ticks(kids)
        row("freeze: CPU used from 0.5 s to 1.5 s after the request", (b - a) * 1000 / TICK, "ms", "0",
            f"pause answered in {answered * 1000:.0f} ms")
        t0 = time.monotonic()
        call(base, "POST", f"/api/transcode/{j['job_id']}/resume")
        a = cpu_ticks(kids)
        time.sleep(0.5)
        b = cpu_ticks(kids)
        row("thaw: CPU used in the first 0.5 s after resume", (b - a) * 1000 / TICK, "ms", "> 0")
    finally:
        p.terminate()
        p.wait()
    thaw_to_segment()
    common.save(OUT)


if __name__ == "__main__":
    main()
