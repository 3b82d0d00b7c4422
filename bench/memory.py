"""The tray app's memory at rest (issue 16): PSS summed over the app's process tree (the
app, its window process, and WebKit's web and network processes under that), with no job
running, on a desktop with a tray host, measured with the window open, after it is closed
(its process gone), and after it is opened again by a second launch.
Targets: <= 80 MB closed, <= 300 MB open.

Usage: /usr/bin/python3 bench/memory.py APP_BINARY RESULT_JSON
Needs Xvfb, dbus-daemon, python3-dbus, python3-gi and python3-xlib (Debian). Runs the app
on its own X display and session bus, with a StatusNotifierWatcher (bench/sni_watcher.py)
standing in for the panel's tray."""
import json
import os
import random
import subprocess
import sys
import tempfile
import time

APP, OUT = sys.argv[1], sys.argv[2]
HERE = os.path.dirname(os.path.abspath(__file__))
SETTLE = 12


def tree(pid):
    """pid and every descendant."""
    children = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                ppid = int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(p))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def pss_mb(pid):
    total, names = 0, []
    for p in tree(pid):
        try:
            f = {l.split(":")[0]: int(l.split()[1]) for l in open(f"/proc/{p}/smaps_rollup") if l.split()[-1] == "kB"}
            total += f["Pss"]
            names.append(f"{open(f'/proc/{p}/comm').read().strip()}: {f['Pss'] // 1024} MB "
                         f"(heap and stacks {f.get('Pss_Anon', 0) // 1024}, files {f.get('Pss_File', 0) // 1024})")
        except (OSError, KeyError):
            pass
    return round(total / 1024, 1), names


def top_files(pid, n=8):
    """The files whose mapped pages weigh most in pid's PSS (MB)."""
    by, cur = {}, None
    for line in open(f"/proc/{pid}/smaps"):
        head = line.split()
        if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            cur = head[5] if len(head) > 5 else "[anon]"
        elif head[0] == "Pss:" and cur:
            by[cur] = by.get(cur, 0) + int(head[1])
    top = sorted(by.items(), key=lambda kv: -kv[1])[:n]
    return {os.path.basename(k): round(v / 1024, 1) for k, v in top}


def main():
    home = tempfile.mkdtemp(prefix="gs-mem-")
    display = f":{random.randint(120, 160)}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x860x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    address = bus.stdout.readline().strip()
    env = dict(os.environ, DISPLAY=display, DBUS_SESSION_BUS_ADDRESS=address, HOME=home,
               XDG_CONFIG_HOME=f"{home}/.config", XDG_DATA_HOME=f"{home}/.local/share",
               GHOSTSTREAM__SERVER__HOST="127.0.0.1", GHOSTSTREAM__SERVER__PORT="0",
               GHOSTSTREAM__MDNS__ENABLED="false", GHOSTSTREAM__DISCOVERY__UDP_ENABLED="false")
    watcher = subprocess.Popen(["/usr/bin/python3", f"{HERE}/sni_watcher.py"], env=env,
                               stdout=subprocess.PIPE, text=True)
    watcher.stdout.readline()
    app = subprocess.Popen([APP], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = {}
    try:
        time.sleep(SETTLE)
        rows["window_open_mb"], rows["open_processes"] = pss_mb(app.pid)
        closed = subprocess.run(["/usr/bin/python3", f"{HERE}/../tests/shell/close_window.py", "GhostStream"],
                                env=env, capture_output=True, text=True).stdout.strip()
        rows["after_close"] = closed
        time.sleep(SETTLE)
        rows["window_closed_mb"], rows["closed_processes"] = pss_mb(app.pid)
        rows["closed_app_top_mappings"] = top_files(app.pid)
        # A second launch opens the running app's window again.
        subprocess.run([APP], env=env, timeout=30, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(SETTLE)
        rows["reopened_mb"], rows["reopened_processes"] = pss_mb(app.pid)
    finally:
        app.terminate()
        try:
            app.wait(20)
        except subprocess.TimeoutExpired:
            app.kill()
        for p in (watcher, bus, xvfb):
            p.kill()
    rows["targets"] = {"window_closed_mb": 80, "window_open_mb": 300}
    rows["pass"] = rows["window_closed_mb"] <= 80 and rows["window_open_mb"] <= 300 and rows["reopened_mb"] <= 300
    print(json.dumps(rows, indent=2))
    os.makedirs(os.path.dirname(os.path.abspath(OUT)), exist_ok=True)
    json.dump(rows, open(OUT, "w"), indent=2)


main()
