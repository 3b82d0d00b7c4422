"""Live ingest figures (issue 12), beside raw ffmpeg where one exists:
- publish -> first playable live segment, from the publisher's start and (server side) from
  the accepted publish;
- live-edge latency: wall clock minus the capture time of the newest listed segment's end
  (the publisher sends in real time from a known start, so media time t was captured at
  start + t);
- CPU of our ladder (the ladder ffmpeg plus our server process) against raw ffmpeg running
  the same argv on the same FLV input;
- live streams sustained at >= 1.0x at 720p input on this machine.
Usage: live.py BINARY MEDIA_DIR OUT_JSON"""
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from common import call, children, row, save, server

BIN, MEDIA, OUT = sys.argv[1:4]
SEG = 2.0
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except OSError:
        return 0.0


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read().decode()
    except OSError:
        return None


def source_flv(height, secs):
    """A grainy H.264/AAC FLV at `height`p30 with a 2 s GOP, as OBS sends."""
    path = os.path.join(MEDIA, f"live{height}_{secs}.flv")
    if not os.path.exists(path):
        w = height * 16 // 9
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                        "-f", "lavfi", "-i", f"testsrc2=size={w}x{height}:rate=30:duration={secs},noise=alls=8:allf=t",
                        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={secs}",
                        "-c:v", "libx264", "-preset", "veryfast", "-b:v", "4500k", "-g", "60", "-pix_fmt", "yuv420p",
                        "-c:a", "aac", "-b:a", "128k", "-shortest", "-f", "flv", path + ".tmp"], check=True)
        os.rename(path + ".tmp", path)
    return path


def publish(port, key, src):
    return subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i", src,
                             "-c", "copy", "-f", "flv", f"rtmp://127.0.0.1:{port}/live/{key}"])


def stream(base, key):
    for s in call(base, "GET", "/api/ingest")["streams"]:
        if s.get("key") == key:
            return s
    return None


def first_segment_and_latency(base, port):
    call(base, "POST", "/api/ingest/keys", {"key": "lat", "name": "Latency"})
    src = source_flv(720, 40)
    t0 = time.time()
    pub = publish(port, "lat", src)
    first = None
    lat = []
    seen = 0
    while time.time() - t0 < 38:
        pl = fetch(f"{base}/streams/lat/media_1.m3u8")
        if pl:
            durs = [float(x) for x in re.findall(r"#EXTINF:([0-9.]+)", pl)]
            seq = int((re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", pl) or [0, 1])[1])
            n = seq - 1 + len(durs)
            if durs and first is None:
                first = time.time() - t0
            if n > seen and durs:
                seen = n
                end = (seq - 1) * SEG + sum(durs)
                lat.append(time.time() - (t0 + end))
        time.sleep(0.05)
    pub.terminate()
    pub.wait()
    return first, lat


def cpu_vs_raw(base, port, proc):
    call(base, "POST", "/api/ingest/keys", {"key": "cpu", "name": "CPU"})
    secs = 30
    src = source_flv(720, secs)
    srv0 = cpu_seconds(proc.pid)
    pub = publish(port, "cpu", src)
    ladder_cpu = 0.0
    while pub.poll() is None:
        for k in children(proc.pid):
            ladder_cpu = max(ladder_cpu, cpu_seconds(k))
        time.sleep(0.2)
    # The stream ends after the grace period; its ladder's last CPU was read above.
    ours = ladder_cpu + (cpu_seconds(proc.pid) - srv0)
    s = None
    for _ in range(100):
        s = stream(base, "cpu")
        if s and s["status"] in ("ended", "error"):
            break
        time.sleep(0.2)
    return ours, s, src


def raw_ladder(argv, src):
    out = tempfile.mkdtemp(prefix="gs-raw-")
    argv = argv[:-1] + [os.path.join(out, "manifest.mpd")]
    t0 = time.time()
    with open(src, "rb") as f:
        p = subprocess.Popen(["ffmpeg"] + argv, stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)
    shutil.rmtree(out, ignore_errors=True)
    return usage.ru_utime + usage.ru_stime, time.time() - t0


def ladder_argv(state, job_id):
    path = os.path.join(state, "logs", "jobs", f"{job_id}.log")
    with open(path) as f:
        for line in f:
            if line.startswith("$ ffmpeg "):
                # Logged shell-quoted; the output path is the last word.
                return shlex.split(line[len("$ ffmpeg "):])
    return None


def sustained(base, port):
    src = source_flv(720, 40)
    best = 0
    for n in (1, 2, 3):
        keys = [f"s{n}_{i}" for i in range(n)]
        for k in keys:
            call(base, "POST", "/api/ingest/keys", {"key": k, "name": k})
        pubs = [publish(port, k, src) for k in keys]
        time.sleep(30)
        speeds = []
        for k in keys:
            s = stream(base, k)
            speeds.append(s["speed"] if s and s["speed"] is not None else 0.0)
        for p in pubs:
            p.terminate()
            p.wait()
        low = min(speeds)
        row(f"live: {n} stream(s) of 720p30 input, slowest ladder speed", low, "x", ">= 1.0",
            " ".join(f"{x:.2f}" for x in speeds))
        if low >= 0.98:
            best = n
        else:
            break
        time.sleep(6)
    row("live: 720p30 streams sustained at >= 1.0x on this machine", best, "streams", ">= 1")


def main():
    proc, base, state = server(BIN, MEDIA, GHOSTSTREAM__LIVE__RTMP_PORT="0", GHOSTSTREAM__LIVE__SRT_PORT="0",
                               GHOSTSTREAM__LIVE__RECONNECT_GRACE_SECONDS="2",
                               GHOSTSTREAM__LIVE__PASSTHROUGH="false")
    try:
        port = call(base, "GET", "/api/ingest")["rtmp_port"]
        first, lat = first_segment_and_latency(base, port)
        row("live: publish -> first playable segment (720p in, 720p/480p/360p out)", first or -1.0, "s",
            f"<= {2 * SEG:.0f}", "from the publisher's start; first keyframe at 0")
        if lat:
            row("live: live-edge latency, median over the stream", statistics.median(lat), "s", "<= 6",
                f"min {min(lat):.2f} max {max(lat):.2f}, {len(lat)} segments")
        time.sleep(4)
        ours, s, src = cpu_vs_raw(base, port, proc)
        argv = ladder_argv(state, s["job_id"]) if s else None
        if argv:
            raw, wall = raw_ladder(argv, src)
            row("live: CPU seconds, our ladder + server for 30 s of 720p", ours, "s", "", "")
            row("live: CPU seconds, raw ffmpeg, same argv and input", raw, "s", "", f"ran in {wall:.1f} s")
            row("live: CPU ours / raw ffmpeg", ours / raw if raw else -1.0, "x", "<= 1.05")
        sustained(base, port)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(state, ignore_errors=True)
    save(OUT)


main()
