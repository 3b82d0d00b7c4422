"""GhostHub's calling pattern with the published SDK (ghoststream==1.2.6) and its own job-slot
counting: play a film (a remux, ready in about a second), the viewer leaves, GhostHub cancels
the finished stream; then more plays. The SDK frees a slot only when cancel answers 200, so a
refused cancel makes the third play wait for ever.

Usage: ghosthub_pattern.py HOST:PORT SOURCE_URL
Prints "ok play N" per play; a failure raises (exit code != 0).
"""
import sys

import gevent

from ghoststream import ClientConfig, GhostStreamClient, TranscodeStatus


def main():
    server, source = sys.argv[1:3]
    client = GhostStreamClient(manual_server=server, config=ClientConfig(client_name="ghosthub"))
    for play in range(1, 6):
        # Each play is another film, as in GhostHub (a shared stream is another case).
        with gevent.Timeout(30, RuntimeError(f"play {play} hung: the SDK has no free job slot")):
            job = client.transcode(source=f"{source}?film={play}", mode="stream", session_id=f"tv-{play}")
        assert job.job_id != "error", job.error_message
        playable = client.wait_for_ready(job.job_id, timeout=60)
        assert playable is not None and playable.stream_url, playable
        # The remux finishes while the viewer watches; the viewer leaves after that.
        for _ in range(600):
            status = client.get_job_status(job.job_id)
            if status is not None and status.status == TranscodeStatus.READY:
                break
            gevent.sleep(0.1)
        assert status is not None and status.status == TranscodeStatus.READY, status
        assert client.cancel_job(job.job_id), f"cancel of finished stream {play} was refused"
        print(f"ok play {play}", flush=True)


if __name__ == "__main__":
    main()
