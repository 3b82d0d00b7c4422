"""mDNS from the Python side, with the libraries GhostHub uses.

discover_check.py browse SECONDS   -> one JSON line per resolved _ghoststream._tcp service
discover_check.py sdk SOURCE_URL   -> GhostStreamClient().start_discovery() finds a server
                                      and transcodes through it ("ok <check>" lines)
"""
import json
import sys
import time

from zeroconf import ServiceBrowser, ServiceListener, Zeroconf


def browse(seconds):
    class Listener(ServiceListener):
        def add_service(self, zc, type_, name):
            info = zc.get_service_info(type_, name, timeout=3000)
            if info:
                print(json.dumps({
                    "name": name,
                    "addresses": info.parsed_addresses(),
                    "port": info.port,
                    "server": info.server,
                    "txt": {k.decode(): (v or b"").decode() for k, v in info.properties.items()},
                }), flush=True)

        def update_service(self, *a):
            pass

        def remove_service(self, *a):
            pass

    zc = Zeroconf()
    ServiceBrowser(zc, "_ghoststream._tcp.local.", Listener())
    time.sleep(seconds)
    zc.close()


def sdk(source):
    from ghoststream import GhostStreamClient, TranscodeStatus

    client = GhostStreamClient()
    client.start_discovery()
    for _ in range(100):
        if client.is_available():
            break
        time.sleep(0.1)
    assert client.is_available(), "no server discovered"
    server = client.get_server()
    print(f"ok discovered {server.name} {server.host}:{server.port} hw={server.hw_accels}", flush=True)
    assert client.health_check(server)
    job = client.transcode(source=source, mode="batch", format="mp4", server=server)
    assert job.status != TranscodeStatus.ERROR, job
    for _ in range(240):
        j = client.get_job_status(job.job_id, server)
        if j.status in (TranscodeStatus.READY, TranscodeStatus.ERROR):
            break
        time.sleep(0.25)
    assert j.status == TranscodeStatus.READY, j
    print("ok transcoded through the discovered server", flush=True)
    client.stop_discovery()


if __name__ == "__main__":
    if sys.argv[1] == "browse":
        browse(float(sys.argv[2]))
    else:
        sdk(sys.argv[2])
