"""A long history (issue 17): the server with 100,000 finished jobs, on this machine.

Usage: history.py OUR_BINARY MEDIA_DIR RESULT_JSON (bench/run.sh prepares everything).

The jobs are made through the store, not by running them: one real stream job is run and
its record is copied 100,000 times into the state database (new ids, created over the last
14 days, finished ready / error / cancelled, files gone). Then, for an empty server and for
that one:
- idle RSS 3 s after start, and the peak (VmHWM) after the requests below;
- start → /api/health answering;
- GET /api/transcode/jobs (the first page of 200, and a page at offset 99,800),
  /api/stats/daily?days=14 and /metrics: median and spread of 10 requests each.
Target: the idle server with the history within 2x of the empty one.
"""
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx

import bench
from bench import free_port, media_server, row, wait_status, start

JOBS = 100_000


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(rf"{field}:\s+(\d+)", f.read()).group(1))


def serve(state):
    """Our server on `state`; returns (process, base URL, seconds until /api/health answered)."""
    port = free_port()
    env = dict(os.environ, RUST_LOG="warn", GHOSTSTREAM__SECURITY__JOB_TOKENS="open",
               GHOSTSTREAM__DISCOVERY__UDP_ENABLED="false", GHOSTSTREAM__TRANSCODING__MAX_HISTORY_JOBS=str(JOBS * 2),
               GHOSTSTREAM__SECURITY__ALLOWED_TARGETS='["127.0.0.0/8"]', GHOSTSTREAM_CONFIG=os.path.join(state, "g.toml"))
    t0 = time.monotonic()
    p = subprocess.Popen([bench.OURS, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-mdns", "--state-dir", state],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    base = f"http://127.0.0.1:{port}"
    while time.monotonic() - t0 < 120:
        try:
            if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                return p, base, time.monotonic() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise RuntimeError("the server did not answer")


def timed(client, url, n=10):
    times = []
    for _ in range(n):
        t0 = time.monotonic()
        r = client.get(url, timeout=60)
        r.raise_for_status()
        times.append(time.monotonic() - t0)
    return statistics.median(times), min(times), max(times), r


def fill(db, template):
    """Copies `template` (a job record) JOBS times into the database at `db`."""
    now = datetime.now(timezone.utc)
    conn = sqlite3.connect(db)
    rows = []
    outcomes = ["ready"] * 8 + ["error", "cancelled"]
    for i in range(JOBS):
        rec = dict(template)
        created = now - timedelta(seconds=14 * 86400 * (JOBS - i) / JOBS)
        rec["id"] = str(uuid.uuid4())
        rec["created_at"] = created.isoformat().replace("+00:00", "Z")
        rec["started_at"] = rec["created_at"]
        rec["last_access"] = rec["created_at"]
        rec["completed_at"] = (created + timedelta(seconds=20)).isoformat().replace("+00:00", "Z")
        rec["status"] = random.choice(outcomes)
        rec["files_removed"] = True
        rows.append((rec["id"], json.dumps(rec), rec["completed_at"]))
    conn.executemany("INSERT INTO jobs (id, data, updated_at) VALUES (?, ?, ?)", rows)
    conn.commit()
    conn.close()


def measure(label, state):
    p, base, up = serve(state)
    client = httpx.Client()
    try:
        time.sleep(3)
        idle = status_kb(p.pid, "VmRSS") / 1024
        first = timed(client, f"{base}/api/transcode/jobs?limit=200")
        total = first[3].json()["total"]
        deep = timed(client, f"{base}/api/transcode/jobs?limit=200&offset={max(0, total - 200)}")
        daily = timed(client, f"{base}/api/stats/daily?days=14")
        metrics = timed(client, f"{base}/metrics")
        peak = status_kb(p.pid, "VmHWM") / 1024
        time.sleep(2)
        after = status_kb(p.pid, "VmRSS") / 1024
        return {"label": label, "jobs": total, "idle": idle, "up": up, "first": first[:3], "deep": deep[:3],
                "daily": daily[:3], "metrics": metrics[:3], "peak": peak, "after": after}
    finally:
        client.close()
        p.terminate()
        p.wait()


def main():
    media = media_server()
    empty_state, full_state = tempfile.mkdtemp(prefix="gs-h0-"), tempfile.mkdtemp(prefix="gs-h1-")
    # One real job, for a realistic record.
    p, base, _ = serve(full_state)
    with httpx.Client() as client:
        job = start(client, base, {"source": f"{media}/clean1080.mkv", "mode": "stream"})
        wait_status(client, base, job, ["ready", "error"])
    p.terminate()
    p.wait()
    db = os.path.join(full_state, "ghoststream.db")
    conn = sqlite3.connect(db)
    template = json.loads(conn.execute("SELECT data FROM jobs").fetchone()[0])
    conn.close()
    fill(db, template)
    size = os.path.getsize(db) / 2**20
    empty = measure("empty", empty_state)
    full = measure(f"{JOBS} jobs", full_state)
    fmt = lambda t: f"{t[0] * 1000:.1f} ms ({t[1] * 1000:.1f}–{t[2] * 1000:.1f})"
    row("idle RSS: empty history / 100,000 finished jobs", full["idle"], empty["idle"], "MB",
        full["idle"] / empty["idle"], "≤ 2", f"database {size:.0f} MiB; peak (VmHWM) {empty['peak']:.1f} / {full['peak']:.1f} MB; "
        f"RSS after the requests {empty['after']:.1f} / {full['after']:.1f} MB")
    row("start → /api/health, 100,000 jobs in history", full["up"], empty["up"], "s", None, "", "ours column: full; peer column: empty")
    row("GET /api/transcode/jobs, first page of 200", full["first"][0], empty["first"][0], "s", None, "", f"full {fmt(full['first'])}, empty {fmt(empty['first'])}")
    row("GET /api/transcode/jobs, the last page (offset 99,800)", full["deep"][0], None, "s", None, "", fmt(full["deep"]))
    row("GET /api/stats/daily?days=14", full["daily"][0], empty["daily"][0], "s", None, "", fmt(full["daily"]))
    row("GET /metrics", full["metrics"][0], empty["metrics"][0], "s", None, "", fmt(full["metrics"]))
    bench.save()


if __name__ == "__main__":
    main()
