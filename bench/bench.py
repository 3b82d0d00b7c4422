"""GhostStream vs the published GhostStream 1.2.6 vs raw ffmpeg, on this machine.

Usage: bench.py OUR_BINARY MEDIA_DIR RESULT_JSON (bench/run.sh prepares everything).
Prints a table of figures and ratios against the targets of the speed issue and writes
them as JSON. Every row is measured independently; a row that fails says why.
"""
import http.server
import json
import os
import re
import shlex
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

import httpx
import websocket

OURS, MEDIA, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
ROWS = []


def row(name, ours, peer, unit, ratio, target, note=""):
    ROWS.append({"metric": name, "ours": ours, "peer": peer, "unit": unit, "ratio": ratio, "target": target, "note": note})
    r = f"{ratio:.3f}" if isinstance(ratio, (int, float)) else "–"
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else ("–" if v is None else str(v))
    print(f"{name:<48} {fmt(ours):>10} {fmt(peer):>10} {unit:<6} {r:>8}  {target:<12} {note}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with single-range support (ffmpeg seeks with Range)."""

    def log_message(self, *a):
        pass

    def send_head(self):
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            self.send_error(404)
            return None
        size = os.path.getsize(path)
        f = open(path, "rb")
        rng = self.headers.get("Range")
        start, end = 0, size - 1
        if rng and rng.startswith("bytes="):
            a, _, b = rng[6:].partition("-")
            start = int(a) if a else max(0, size - int(b))
            end = int(b) if (a and b) else size - 1
            if start >= size:
                self.send_error(416)
                return None
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "video/x-matroska")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        f.seek(start)
        self._remaining = end - start + 1
        return f

    def copyfile(self, source, outputfile):
        left = self._remaining
        while left > 0:
            chunk = source.read(min(65536, left))
            if not chunk:
                break
            try:
                outputfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            left -= len(chunk)


class Threaded(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def media_server():
    port = free_port()
    handler = lambda *a, **k: RangeHandler(*a, directory=MEDIA, **k)
    srv = Threaded(("127.0.0.1", port), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{port}"


def start_ours(extra_env=None):
    state = tempfile.mkdtemp(prefix="gs-bench-")
    # Throttling ahead of the viewer is off: these rows measure whole-file throughput with
    # nobody watching.
    env = dict(os.environ, RUST_LOG="warn", GHOSTSTREAM__SECURITY__JOB_TOKENS="open",
               GHOSTSTREAM__THROTTLE__AHEAD_SECONDS="0",
               GHOSTSTREAM__DISCOVERY__UDP_ENABLED="false",
               GHOSTSTREAM__SECURITY__ALLOWED_TARGETS='["127.0.0.0/8"]', GHOSTSTREAM_CONFIG=os.path.join(state, "g.toml"))
    env.update(extra_env or {})
    p = subprocess.Popen([OURS, "serve", "--host", "127.0.0.1", "--port", "0", "--no-mdns", "--state-dir", state],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    line = p.stdout.readline()
    base = "http://" + line.strip().rsplit("http://", 1)[1]
    threading.Thread(target=p.stdout.read, daemon=True).start()
    return p, base


def start_peer():
    work = tempfile.mkdtemp(prefix="gs-peer-")
    port = free_port()
    cfg = os.path.join(work, "ghoststream.yaml")
    with open(cfg, "w") as f:
        f.write(f"server:\n  host: 127.0.0.1\n  port: {port}\nmdns:\n  enabled: false\n"
                f"transcoding:\n  temp_directory: {work}/tmp\n  max_concurrent_jobs: 2\n")
    p = subprocess.Popen([sys.executable, "-m", "ghoststream", "--server-only", "--no-mdns", "-c", cfg, "--port", str(port)],
                         cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                return p, base
        except Exception:
            pass
        time.sleep(0.1)
    raise RuntimeError("the published GhostStream did not start")


def rss_mb(pid):
    total = 0
    for p in [pid] + children(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                total += int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        except Exception:
            pass
    return total / 1024


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    kids = [int(x) for x in out]
    return kids + [g for k in kids for g in children(k)]


def decodes(data):
    with tempfile.NamedTemporaryFile(suffix=".ts") as f:
        f.write(data)
        f.flush()
        r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", f.name],
                           capture_output=True, text=True)
        return r.returncode == 0 and "video" in r.stdout


def headers(job):
    t = job.get("control_token")
    return {"X-GhostStream-Control-Token": t} if t else {}


def first_playable(client, job, deadline=120):
    """Seconds from now until the job's first segment is listed and its bytes arrive (they
    must decode)."""
    t0 = time.monotonic()
    master_url = job["stream_url"]
    while time.monotonic() - t0 < deadline:
        try:
            m = client.get(master_url, timeout=30)
            if m.status_code == 200:
                first = next((l for l in m.text.splitlines() if l and not l.startswith("#")), None)
                # A master playlist names variants; the peer's stream_url is a media playlist.
                if first and "#EXTINF" in m.text:
                    vurl, seg, ok = httpx.URL(master_url), first, True
                elif first:
                    vurl = httpx.URL(master_url).join(first)
                    v = client.get(vurl, timeout=30)
                    seg = next((l for l in v.text.splitlines() if l and not l.startswith("#")), None)
                    ok = v.status_code == 200
                else:
                    seg, ok = None, False
                if ok and seg:
                    s = client.get(vurl.join(seg), timeout=60)
                    # The segment counts from when its bytes arrived; checking that they
                    # decode (an ffprobe run) is the bench's time, not the server's.
                    arrived = time.monotonic() - t0
                    if s.status_code == 200 and decodes(s.content):
                        return arrived
        except httpx.HTTPError:
            pass
        time.sleep(0.01)
    raise RuntimeError("no playable segment in time")


def wait_status(client, base, job, statuses, deadline=900):
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline:
        s = client.get(f"{base}/api/transcode/{job['job_id']}/status", headers=headers(job), timeout=30).json()
        if s["status"] in statuses:
            return s, time.monotonic() - t0
        time.sleep(0.1)
    raise RuntimeError(f"job never reached {statuses}")


def start(client, base, body):
    r = client.post(f"{base}/api/transcode/start", json=body, timeout=120)
    r.raise_for_status()
    return r.json()


LEFT_RUNNING = {}  # base URL → ffmpeg/ffprobe processes still running 2 s after a delete


def tools_running():
    out = subprocess.run(["pgrep", "-c", "-x", "ffmpeg|ffprobe"], capture_output=True, text=True).stdout
    return int(out.strip() or 0)


def cleanup(client, base, job):
    """Deletes the job, then waits (up to 60 s) until no ffmpeg runs, so that the next row
    is measured on an idle machine; counts what a server left running after 2 s."""
    try:
        client.delete(f"{base}/api/transcode/{job['job_id']}", headers=headers(job), timeout=30)
    except Exception:
        pass
    t0, left = time.monotonic(), 0
    while time.monotonic() - t0 < 60:
        n = tools_running()
        if n == 0:
            break
        if time.monotonic() - t0 >= 2 and not left:
            left = n
        time.sleep(0.1)
    LEFT_RUNNING[base] = max(LEFT_RUNNING.get(base, 0), left)


def abr_row(client, src1080):
    """ABR: 3 rungs from one decode vs 3 separate encodes."""
    try:
        abr, ab = start_ours({"GHOSTSTREAM__TRANSCODING__ABR_MAX_VARIANTS": "3"})
        t0 = time.monotonic(); j = start(client, ab, {"source": src1080, "mode": "abr"})
        _, one = wait_status(client, ab, j, ["ready", "error"])
        log = client.get(f"{ab}/api/transcode/{j['job_id']}/log", headers=headers(j)).text
        abr.terminate()
        sep = 0.0
        tmp = tempfile.mkdtemp()
        for (w, h, kbps) in [(1920, 1080, 8000), (1280, 720, 4000), (854, 480, 1500)]:
            cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", os.path.join(MEDIA, "src1080.mkv"),
                   "-vf", f"scale={w}:{h}:flags=bicubic,setsar=1,format=yuv420p", "-c:v", "libx264", "-preset", "veryfast",
                   "-rc-lookahead", "10", "-profile:v", "high", "-b:v", f"{kbps}k", "-maxrate", f"{kbps * 3 // 2}k",
                   "-bufsize", f"{kbps * 2}k", "-force_key_frames", "expr:gte(t,n_forced*4.000)", "-c:a", "aac", "-ac", "2",
                   "-b:a", "128k", "-f", "segment", "-segment_format", "mpegts", "-segment_time", "4", os.path.join(tmp, f"{h}_%05d.ts")]
            t0 = time.monotonic(); subprocess.run(cmd); sep += time.monotonic() - t0
        row("ABR 3 rungs: one job / three separate encodes", one / sep, None, "", one / sep, "≤ 0.77",
            f"one decode {one:.2f} s, separate {sep:.2f} s, split={'split=3' in log}")
    except Exception as e:
        row("ABR one decode vs separate", None, None, "", None, "≤ 0.77", str(e))


def main():
    media = media_server()
    src1080, long720 = f"{media}/src1080.mkv", f"{media}/long720.mkv"
    if os.environ.get("BENCH_ONLY") == "abr":
        # One row again (after a change that touches only it): BENCH_ONLY=abr bench.py …
        with httpx.Client() as client:
            abr_row(client, src1080)
        save()
        return
    client = httpx.Client()
    ours, ob = start_ours()
    peer, pb = start_peer()
    print(f"machine: {os.cpu_count()} cores; ffmpeg {subprocess.run(['ffmpeg', '-version'], capture_output=True, text=True).stdout.split()[2]}")
    print(f"{'metric':<48} {'ours':>10} {'peer':>10} {'unit':<6} {'ratio':>8}  {'target':<12} note")
    time.sleep(3)

    # Idle memory.
    try:
        o, p = rss_mb(ours.pid), rss_mb(peer.pid)
        row("idle RSS", o, p, "MB", o / p, "≤ 0.2")
    except Exception as e:
        row("idle RSS", None, None, "MB", None, "≤ 0.2", str(e))

    # /api/health throughput.
    def rps(base):
        out = subprocess.run(["wrk", "-t2", "-c32", "-d5s", f"{base}/api/health"], capture_output=True, text=True).stdout
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    try:
        o, p = rps(ob), rps(pb)
        row("/api/health requests per second (wrk)", o, p, "req/s", o / p, "≥ 30")
    except Exception as e:
        row("/api/health requests per second (wrk)", None, None, "req/s", None, "≥ 30", f"wrk: {e}")

    # POST → first playable segment, 1080p → 720p, stream mode.
    body = {"source": src1080, "mode": "stream", "output": {"resolution": "720p"}}
    try:
        t0 = time.monotonic(); j = start(client, ob, body); o = time.monotonic() - t0 + first_playable(client, j)
        cleanup(client, ob, j)
        t0 = time.monotonic(); j = start(client, pb, body); p = time.monotonic() - t0 + first_playable(client, j)
        cleanup(client, pb, j)
        row("POST → first playable segment, 1080p→720p", o, p, "s", o / p, "≤ 0.35")
    except Exception as e:
        row("POST → first playable segment, 1080p→720p", None, None, "s", None, "≤ 0.35", str(e))

    # Remux path on the 10-minute H.264/AAC source, seek to 80 % in the same job.
    try:
        posted = time.monotonic(); j = start(client, ob, {"source": long720, "mode": "stream"})
        o = time.monotonic() - posted + first_playable(client, j)
        row("remux: POST → first playable segment", o, None, "s", None, "≤ 0.5 s", "absolute")
        variant = httpx.URL(j["stream_url"]).join("v0.m3u8")
        segs = [l for l in client.get(variant).text.splitlines() if l and not l.startswith("#")]
        target = segs[int(len(segs) * 0.8)]
        t0 = time.monotonic(); s = client.get(variant.join(target), timeout=60); seek = time.monotonic() - t0
        ok = s.status_code == 200 and decodes(s.content)
        wait_status(client, ob, j, ["ready", "error"])
        whole = time.monotonic() - posted
        cleanup(client, ob, j)
        # Peer: a seek is a new job with start_time.
        t0 = time.monotonic(); pj = start(client, pb, {"source": long720, "mode": "stream", "start_time": 480})
        p = time.monotonic() - t0 + first_playable(client, pj)
        cleanup(client, pb, pj)
        row("seek to 80 % of 10 min: segment playable", seek, p, "s", seek / p, "≤ 1.5 s", "ours: same job" + ("" if ok else ", DID NOT DECODE") + "; peer: new job")
        row("remux: whole 10-minute file", 600 / whole, None, "× rt", None, "≥ 50×", f"POST → ready {whole:.1f} s, with the seek")
    except Exception as e:
        row("remux / seek", None, None, "s", None, "", str(e))

    # Transcode throughput: a batch job vs raw ffmpeg with the job's exact argv.
    try:
        t0 = time.monotonic(); j = start(client, ob, {"source": src1080, "mode": "batch", "output": {"resolution": "720p"}})
        _, o = wait_status(client, ob, j, ["ready", "error"])
        log = client.get(f"{ob}/api/transcode/{j['job_id']}/log", headers=headers(j)).text
        cmd = next(l[2:] for l in log.splitlines() if l.startswith("$ "))
        out = tempfile.mkdtemp()
        argv = shlex.split(cmd)
        argv[-1] = os.path.join(out, "raw.mp4")
        t0 = time.monotonic(); subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); raw = time.monotonic() - t0
        cleanup(client, ob, j)
        row("batch 1080p→720p: raw ffmpeg time / job time", raw / o, None, "", raw / o, "≥ 0.97", f"job {o:.2f} s, raw {raw:.2f} s")
    except Exception as e:
        row("batch throughput vs raw ffmpeg", None, None, "", None, "≥ 0.97", str(e))

    # Speed without cheating: the same batch request on both, PSNR against the source
    # (scaled to 720p) and the bitrate each spent.
    def quality(base):
        j = start(client, base, {"source": src1080, "mode": "batch", "output": {"resolution": "720p", "format": "mp4"}})
        s, _ = wait_status(client, base, j, ["ready", "error"], deadline=1200)
        data = client.get(s["download_url"], headers=headers(j), timeout=120).content
        cleanup(client, base, j)
        with tempfile.NamedTemporaryFile(suffix=".mp4", delete=False) as f:
            f.write(data)
        out = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-i", f.name, "-i", os.path.join(MEDIA, "src1080.mkv"),
                              "-lavfi", "[1:v]scale=1280:720:flags=bicubic[ref];[0:v][ref]psnr", "-f", "null", "-"],
                             capture_output=True, text=True).stderr
        psnr = float(re.search(r"average:([\d.]+)", out).group(1))
        kbps = int(json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=bit_rate", "-of", "json", f.name],
                                             capture_output=True, text=True).stdout)["format"]["bit_rate"]) / 1000
        os.unlink(f.name)
        return psnr, kbps
    try:
        (op, ok), (pp, pk) = quality(ob), quality(pb)
        row("batch 720p quality: PSNR vs source", op, pp, "dB", op - pp, "≥ -1 dB", "ratio column = ours − peer")
        row("batch 720p bitrate", ok, pk, "kbps", ok / pk, "≤ 1.3")
    except Exception as e:
        row("batch quality vs the peer", None, None, "dB", None, "≥ -1 dB", str(e))

    # HEVC 10-bit with 5.1 audio: first playable segment (re-encode + downmix).
    hevc = f"{media}/hevc10_51.mkv"
    try:
        t0 = time.monotonic(); j = start(client, ob, {"source": hevc, "mode": "stream", "output": {"resolution": "720p"}})
        o = time.monotonic() - t0 + first_playable(client, j)
        cleanup(client, ob, j)
        try:
            t0 = time.monotonic(); j = start(client, pb, {"source": hevc, "mode": "stream", "output": {"resolution": "720p"}})
            p = time.monotonic() - t0 + first_playable(client, j)
            cleanup(client, pb, j)
            row("HEVC 10-bit 5.1 → first playable segment, 720p", o, p, "s", o / p, "≤ 0.35")
        except Exception as e:
            row("HEVC 10-bit 5.1 → first playable segment, 720p", o, None, "s", None, "≤ 0.35", f"peer: {e}")
    except Exception as e:
        row("HEVC 10-bit 5.1 → first playable segment", None, None, "s", None, "≤ 0.35", str(e))

    abr_row(client, src1080)

    # WebSocket progress cadence during a stream job.
    try:
        ws = websocket.create_connection(ob.replace("http", "ws") + "/ws/progress", timeout=60)
        j = start(client, ob, {"source": src1080, "mode": "batch", "output": {"resolution": "720p", "format": "mkv"}})
        times = []
        while True:
            m = json.loads(ws.recv())
            if m.get("job_id") != j["job_id"]:
                continue
            if m["type"] == "progress":
                times.append(time.monotonic())
            if m["type"] == "status_change" and m["data"]["status"] in ("ready", "error", "cancelled"):
                break
        ws.close()
        rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0
        gap = max((b - a for a, b in zip(times, times[1:])), default=0)
        row("WebSocket progress messages per second", rate, None, "msg/s", None, "≥ 2",
            f"{len(times)} messages; longest gap {gap:.2f} s bounds the lag (ffmpeg reports every 0.5 s)")
    except Exception as e:
        row("WebSocket progress", None, None, "msg/s", None, "≥ 2", str(e))

    row("ffmpeg still running 2 s after a delete (worst)", LEFT_RUNNING.get(ob), LEFT_RUNNING.get(pb), "procs", None, "0",
        "the bench waits for them before the next row")
    ours.terminate()
    peer.terminate()
    for p in (ours, peer):
        try:
            p.wait(timeout=15)
        except Exception:
            p.kill()
    save()


def with_ours(work, extra_env=None):
    """Runs `work(client, base, media)` against our server and the media server, then
    stops the server and writes the rows (the scripts beside this one use it)."""
    media = media_server()
    ours, base = start_ours(extra_env)
    client = httpx.Client()
    try:
        work(client, base, media)
    finally:
        client.close()
        ours.terminate()
        ours.wait()
    save()


def save():
    """Writes the rows measured so far to RESULT_JSON (the other bench scripts use it too)."""
    with open(OUT, "w") as f:
        json.dump({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cores": os.cpu_count(), "rows": ROWS}, f, indent=2)
    print(f"written {OUT}")


if __name__ == "__main__":
    main()
