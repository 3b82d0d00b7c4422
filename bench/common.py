"""What the bench scripts beside bench.py share: a result row, a JSON call, and our
server started on a free port with a state directory of its own."""
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

ROWS = []


def row(name, value, unit, target, note=""):
    ROWS.append({"metric": name, "value": value, "unit": unit, "target": target, "note": note})
    v = f"{value:.3f}" if isinstance(value, float) else str(value)
    print(f"{name:<58} {v:>10} {unit:<6} {target:<10} {note}", flush=True)


def call(base, method, path, body=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read() or b"null")


def server(binary, media, **env_extra):
    """Starts `binary serve`; returns (process, base URL, state directory)."""
    state = tempfile.mkdtemp(prefix="gs-bench-", dir=os.environ.get("BENCH_STATE_ROOT"))
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    p_num = port.getsockname()[1]
    port.close()
    env = dict(os.environ, RUST_LOG="warn",
               GHOSTSTREAM__SECURITY__JOB_TOKENS="open",
               GHOSTSTREAM__DISCOVERY__UDP_ENABLED="false",
               GHOSTSTREAM__TRANSCODING__LIBRARY_ROOTS=json.dumps([media]),
               GHOSTSTREAM_CONFIG=os.path.join(state, "g.toml"), **env_extra)
    p = subprocess.Popen([binary, "serve", "--host", "127.0.0.1", "--port", str(p_num), "--no-mdns",
                          "--state-dir", state], env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{p_num}"
    for _ in range(100):
        try:
            call(base, "GET", "/api/health")
            return p, base, state
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def children(pid):
    """Processes whose parent is `pid`."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(rest[1]) == pid:
            out.append(int(p))
    return out


def save(out):
    with open(out, "w") as f:
        json.dump({"rows": ROWS, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, f, indent=1)
