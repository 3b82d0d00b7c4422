"""The app on a desktop with a tray host (a StatusNotifierWatcher on the session bus):
the dashboard runs in a window process of its own, a child of the app; closing the
window ends that process and every WebKit process under it while the app keeps serving;
launching the app again opens a new window process. Run by tests/shell/run.sh inside
Xvfb and its own session bus (dbus-run-session).
Usage: /usr/bin/python3 tray_host.py APP_BINARY"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

APP = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))


def ok(m):
    print(f"ok {m}", flush=True)


def children(pid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p))
            except OSError:
                continue
    return out


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        for c in children(todo.pop()):
            out.append(c)
            todo.append(c)
    return out


def alive(pid):
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def comm(pid):
    try:
        return open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        return ""


def wait(what, test, seconds=30):
    end = time.time() + seconds
    while time.time() < end:
        got = test()
        if got:
            return got
        time.sleep(0.2)
    raise SystemExit(f"FAILED waiting for {what}")


def window_process(app_pid):
    """The app's child that is itself the app (the window process), with WebKit under it."""
    for c in children(app_pid):
        if alive(c) and comm(c) == comm(app_pid):
            return c
    return None


def port_of(log):
    for line in open(log):
        if "server started" in line and "listening on" in line:
            return int(line.split("(port ")[1].split(")")[0])
    return None


def main():
    home = tempfile.mkdtemp(prefix="gs-tray-host-")
    env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=f"{home}/.config",
               XDG_DATA_HOME=f"{home}/.local/share")
    env.pop("TAURI_WEBVIEW_AUTOMATION", None)
    watcher = subprocess.Popen(["/usr/bin/python3", f"{HERE}/../../bench/sni_watcher.py"], env=env,
                               stdout=subprocess.PIPE, text=True)
    watcher.stdout.readline()
    app = subprocess.Popen([APP], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = f"{home}/.local/share/ghoststream/logs/ghoststream.log"
    try:
        first = wait("the window process", lambda: window_process(app.pid))
        def webkit_processes():
            found = [p for p in descendants(first) if comm(p).startswith("WebKit")]
            # Its web process and its network process.
            return found if {comm(p)[:9] for p in found} >= {"WebKitWeb", "WebKitNet"} else None

        webkit = wait("WebKit's web and network processes under the window process", webkit_processes)
        port = wait("the server's port in the log", lambda: os.path.exists(log) and port_of(log))
        ok(f"the window is a process of its own ({first}, a child of the app {app.pid}), "
           f"with WebKit's {len(webkit)} processes under it")
        # close_window.py answers 2 until the window is mapped.
        closed = wait("the window mapped, then closed", lambda: subprocess.run(
            ["/usr/bin/python3", f"{HERE}/close_window.py", "GhostStream"],
            env=env, capture_output=True, text=True).stdout.strip().replace("no viewable window titled GhostStream", ""))
        if closed != "gone":
            raise SystemExit(f"FAILED: after close the window is {closed}")
        wait("the window process and WebKit's to end", lambda: not any(alive(p) for p in [first] + webkit), 15)
        if not alive(app.pid):
            raise SystemExit("FAILED: the app ended with its window")
        health = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10))
        if health.get("status") != "healthy":
            raise SystemExit(f"FAILED: health after close: {health}")
        left = [p for p in descendants(app.pid) if comm(p) != "ffmpeg" and comm(p) != "ffprobe"]
        if left:
            raise SystemExit(f"FAILED: processes left under the app after close: {[(p, comm(p)) for p in left]}")
        ok("with a tray host, closing the window ends its process and WebKit's; the app serves on alone")
        # A second launch reaches the running app, which opens its window again.
        subprocess.run([APP], env=env, timeout=30, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        second = wait("a new window process", lambda: window_process(app.pid))
        if second == first:
            raise SystemExit("FAILED: the same window process")
        ok(f"launching the app again opens a new window process ({second})")
        app.terminate()
        app.wait(20)
        wait("the window process to end with the app", lambda: not alive(second), 10)
        ok("the window process ends with the app")
    finally:
        if app.poll() is None:
            app.kill()
        watcher.kill()


main()
