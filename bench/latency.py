"""How fast a job ends when it should (issue 17), ours beside the published GhostStream
1.2.6, on this machine.

Usage: latency.py OUR_BINARY MEDIA_DIR RESULT_JSON (bench/run.sh prepares everything).

Each row is the median of 3 runs, with the spread:
- cancel → the job's last ffmpeg gone (a running 1080p → 720p stream; target <= 0.5 s);
- a source that answers 404 → the job's error, or the start's refusal (target <= 1 s);
- a source nobody listens for (a closed local port: connection refused) → error
  (target <= 3 s).
"""
import socket
import statistics
import time

import httpx

import bench
from bench import children, first_playable, headers, media_server, row, start_ours, start_peer

RUNS = 3


def ffmpegs(pid):
    out = []
    for p in children(pid):
        try:
            with open(f"/proc/{p}/comm") as f:
                if f.read().strip() in ("ffmpeg", "ffprobe"):
                    out.append(p)
        except OSError:
            pass
    return out


def cancel_latency(client, base, pid, source):
    job = bench.start(client, base, {"source": source, "mode": "stream", "output": {"resolution": "720p"}})
    first_playable(client, job)
    t0 = time.monotonic()
    client.post(f"{base}/api/transcode/{job['job_id']}/cancel", headers=headers(job), timeout=30)
    while ffmpegs(pid) and time.monotonic() - t0 < 30:
        time.sleep(0.01)
    return time.monotonic() - t0


def error_latency(client, base, source):
    """Seconds from the start request to the job's error (or a refused start)."""
    t0 = time.monotonic()
    r = client.post(f"{base}/api/transcode/start", json={"source": source}, timeout=120)
    if r.status_code >= 400:
        return time.monotonic() - t0
    job = r.json()
    while time.monotonic() - t0 < 120:
        s = client.get(f"{base}/api/transcode/{job['job_id']}/status", headers=headers(job), timeout=30).json()
        if s["status"] in ("error", "failed"):
            return time.monotonic() - t0
        if s["status"] in ("ready", "cancelled"):
            return float("nan")
        time.sleep(0.02)
    return float("inf")


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stats(xs):
    return statistics.median(xs), min(xs), max(xs)


def main():
    media = media_server()
    ours, ob = start_ours()
    peer, pb = start_peer()
    client = httpx.Client()
    try:
        cases = [
            ("cancel → last ffmpeg of the job gone", "≤ 0.5 s",
             lambda base, pid: cancel_latency(client, base, pid, f"{media}/src1080.mkv")),
            ("404 source → error", "≤ 1 s",
             lambda base, pid: error_latency(client, base, f"{media}/missing.mkv")),
            ("closed port (connection refused) → error", "≤ 3 s",
             lambda base, pid: error_latency(client, base, f"http://127.0.0.1:{closed_port()}/x.mkv")),
        ]
        for name, target, measure in cases:
            o = [measure(ob, ours.pid) for _ in range(RUNS)]
            p = [measure(pb, peer.pid) for _ in range(RUNS)]
            (om, olo, ohi), (pm, plo, phi) = stats(o), stats(p)
            row(name, om, pm, "s", om / pm if pm else None, target,
                f"median of {RUNS}; ours {olo:.2f}–{ohi:.2f}, peer {plo:.2f}–{phi:.2f}")
    finally:
        client.close()
        for p in (ours, peer):
            p.terminate()
            p.wait()
    bench.save()


if __name__ == "__main__":
    main()
