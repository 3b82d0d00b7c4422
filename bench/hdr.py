"""HDR10 to SDR (issue 14), on this machine.

Usage: hdr.py OUR_BINARY MEDIA_DIR RESULT_JSON (bench/run.sh prepares everything).

A 1080p HEVC 10-bit HDR10 (PQ, BT.2020) source to 720p SDR H.264, in software:
- a stream: its encode speed (output seconds per second between 6 s and 10 s);
- a batch file: the job's speed (source seconds per second, POST to ready), and raw
  ffmpeg running the job's own argv beside it.
Target: >= 1.0x realtime. The published server's stream of the same source runs beside
it in the same run (it tone-maps at full size), for the peer column.
"""
import json
import os
import shlex
import subprocess
import time

import bench
import streams
from bench import cleanup, headers, row, start, wait_status

SRC = "hdr1080.mkv"


def all_rows(client, base, media):
    try:
        duration = float(json.loads(subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json",
             os.path.join(bench.MEDIA, SRC)], capture_output=True, text=True).stdout)["format"]["duration"])
        job = start(client, base, {"source": f"{media}/{SRC}", "mode": "stream", "output": {"resolution": "720p"}})
        speed = streams.speeds_of(client, base, [job])[0]
        streams.cancel_all(client, base, [job])
        peer_speed, note = peer_stream_speed(client, media)
        row("HDR10 HEVC 10-bit 1080p -> 720p SDR stream: encode speed", speed, peer_speed, "x",
            speed / peer_speed if peer_speed else None, ">= 1.0", note)
        t0 = time.monotonic()
        job = start(client, base, {"source": f"{media}/{SRC}", "mode": "batch",
                                   "output": {"resolution": "720p", "format": "mp4"}})
        status, _ = wait_status(client, base, job, ["ready", "error"], deadline=1800)
        took = time.monotonic() - t0
        log = client.get(f"{base}/api/transcode/{job['job_id']}/log", headers=headers(job), timeout=30).text
        cleanup(client, base, job)
        if status.get("status") != "ready":
            raise RuntimeError(f"job ended {status.get('status')}: {status.get('error_message')}")
        cmd = next(l[2:] for l in log.splitlines() if l.startswith("$ "))
        argv = shlex.split(cmd)
        argv[-1] = "/dev/null"
        t1 = time.monotonic()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        raw = time.monotonic() - t1
        row("HDR10 HEVC 10-bit 1080p -> 720p SDR batch: speed", duration / took, duration / raw, "x", took / raw,
            ">= 1.0", f"{duration:.0f} s source in {took:.1f} s; peer column = raw ffmpeg with the job's argv ({raw:.1f} s)")
    except Exception as e:
        row("HDR10 HEVC 10-bit 1080p -> 720p SDR batch: speed", None, None, "x", None, ">= 1.0", str(e))


def peer_stream_speed(client, media):
    """The published server's stream of the same source, measured the same way (alone:
    ours is cancelled first)."""
    try:
        peer, pbase = bench.start_peer()
    except Exception as e:
        return None, f"peer: {e}"
    try:
        job = start(client, pbase, {"source": f"{media}/{SRC}", "mode": "stream", "output": {"resolution": "720p"}})
        speed = streams.speeds_of(client, pbase, [job])[0]
        streams.cancel_all(client, pbase, [job])
        return speed, "peer: the published server, same source, same run"
    except Exception as e:
        return None, f"peer: {e}"
    finally:
        peer.terminate()
        peer.wait()


def main():
    bench.with_ours(all_rows)


if __name__ == "__main__":
    main()
