"""Upload throughput and memory (issue 13), measured on this machine.

Usage: uploads.py OUR_BINARY MEDIA_DIR RESULT_JSON [GIB]

`dd` writes GIB GiB (default 2), then syncs, to the disk that holds the server's state directory; then
the same bytes go to our server over loopback through the seed's chunked API (64 MiB
chunks) and through tus (one PATCH). Each upload's throughput is a ratio to dd's in the
same run (target >= 0.5x). The server's RSS is sampled every 50 ms during each upload;
the growth over its RSS before is reported (target <= 16 MiB).
"""
import hashlib
import http.client
import json
import os
import subprocess
import sys
import threading
import time

import common
from common import call, row

OURS, MEDIA, OUT = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3]
GIB = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
SIZE = int(GIB * (1 << 30))
BLOCK = os.urandom(1 << 20)


def body(n):
    """n bytes of the same random MiB over and over, without holding them."""
    sent = 0
    while sent < n:
        k = min(len(BLOCK), n - sent)
        yield BLOCK[:k]
        sent += k


def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Peak:
    """The highest RSS of `pid` while in use."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, rss(pid), False
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss(self.pid))
            time.sleep(0.05)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop = True
        self.t.join()


def send(base, method, path, n, headers):
    host = base.removeprefix("http://")
    c = http.client.HTTPConnection(host, timeout=600)
    c.request(method, path, body=body(n), headers={"Content-Length": str(n), **headers})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {data[:200]!r}")
    return r


def dd_rate(state):
    target = os.path.join(state, "dd.bin")
    t0 = time.monotonic()
    subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={SIZE >> 20}",
                    "status=none"], check=True)
    # Timed like the uploads: written, then the file system synced.
    subprocess.run(["sync", "-f", state], check=False)
    took = time.monotonic() - t0
    os.remove(target)
    return SIZE / took


def upload_rows(name, short, pid, state, dd, upload):
    """Times `upload` to a synced file system against dd, and the server's RSS growth."""
    base_rss = rss(pid)
    with Peak(pid) as peak:
        t0 = time.monotonic()
        upload()
        subprocess.run(["sync", "-f", state], check=False)
        took = time.monotonic() - t0
    rate = SIZE / took
    row(f"upload, {name}: ratio to dd", rate / dd, "x", ">= 0.5", f"{rate / (1 << 20):.0f} MiB/s")
    row(f"server RSS growth during the {GIB:g} GiB {short} upload", (peak.peak - base_rss) / (1 << 20),
        "MiB", "<= 16")


def main():
    p, base, state = common.server(OURS, MEDIA, GHOSTSTREAM__UPLOADS__MIN_FREE_BYTES="0")
    try:
        time.sleep(1.0)
        dd = dd_rate(state)
        row(f"dd writing {GIB:g} GiB to the same disk, then sync", dd / (1 << 20), "MiB/s", "–")
        digest = hashlib.sha256()
        for chunk in body(SIZE):
            digest.update(chunk)
        # The seed's chunked API.
        up = call(base, "POST", "/api/upload/init", {"filename": "big.bin", "file_size": SIZE})
        uid = up["upload_id"]
        step = 64 << 20

        def chunks():
            for off in range(0, SIZE, step):
                send(base, "POST", f"/api/upload/chunk/{uid}?offset={off}", min(step, SIZE - off),
                     {"Content-Type": "application/octet-stream"})

        upload_rows("seed chunked API (64 MiB chunks)", "seed", p.pid, state, dd, chunks)
        t0 = time.monotonic()
        done = call(base, "POST", f"/api/upload/complete/{uid}", {"sha256": digest.hexdigest()})
        assert done["complete"], done
        row("complete: SHA-256 of the whole upload checked", time.monotonic() - t0, "s", "–")
        call(base, "DELETE", f"/api/upload/{uid}")
        # tus 1.0: creation, then one PATCH (which also hashes the whole file at its end).
        r = send(base, "POST", "/api/tus/", 0, {"Tus-Resumable": "1.0.0", "Upload-Length": str(SIZE)})
        path = "/api/tus/" + r.getheader("Location").rsplit("/", 1)[1]
        upload_rows("tus (one PATCH, SHA-256 included)", "tus", p.pid, state, dd,
                    lambda: send(base, "PATCH", path, SIZE, {
                        "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
                        "Content-Type": "application/offset+octet-stream"}))
    finally:
        p.terminate()
        p.wait()
        subprocess.run(["rm", "-rf", state], check=False)
    common.save(OUT)


if __name__ == "__main__":
    main()
