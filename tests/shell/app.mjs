// The real Tauri window, driven by Debian's WebKitWebDriver (no tauri-driver needed:
// TAURI_WEBVIEW_AUTOMATION=true and webkitgtk:browserOptions do what it does).
// Run by tests/shell/run.sh inside Xvfb and a D-Bus session with no tray host (no
// StatusNotifierWatcher) and no notification daemon.
// Usage: node app.mjs APP_BINARY MEDIA_FILE SCREENSHOT_DIR STATE_HOME
import { Builder, By, until } from "selenium-webdriver";
import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";

const [app, mediaFile, shots, home] = process.argv.slice(2);
// The headless server built beside the app reads the history the app left.
const cli = app.replace(/ghoststream-tray$/, "ghoststream");
mkdirSync(shots, { recursive: true });
const ok = (m) => console.log(`ok ${m}`);

// A slow media source so a job is still running when we quit.
const media = readFileSync(mediaFile);
const mediaServer = createServer((req, res) => {
  if (req.url !== "/slow.mkv") { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { "Content-Type": "video/x-matroska", "Content-Length": media.length });
  let i = 0;
  const t = setInterval(() => {
    if (i >= media.length || res.destroyed) { clearInterval(t); res.end(); return; }
    res.write(media.subarray(i, i + 4000));
    i += 4000;
  }, 100);
});
await new Promise((r) => mediaServer.listen(0, "127.0.0.1", r));
const source = `http://127.0.0.1:${mediaServer.address().port}/slow.mkv`;

const driverProc = spawn("WebKitWebDriver", ["--port=4445"], { stdio: "inherit" });
await new Promise((r) => setTimeout(r, 1500));
let failed = false;
let appPid = null;
let port = null;
const driver = await new Builder()
  .usingServer("http://127.0.0.1:4445/")
  .withCapabilities({ browserName: "wry", "webkitgtk:browserOptions": { binary: app, args: [] } })
  .build();
try {
  const text = (sel) => driver.executeScript(`return document.querySelector(arguments[0])?.textContent ?? null`, sel);
  const exists = (sel) => driver.executeScript(`return !!document.querySelector(arguments[0])`, sel);
  const waitFor = (sel, ms) => driver.wait(() => exists(sel), ms, `waiting for ${sel}`);
  await driver.wait(until.elementLocated(By.css('[data-testid="mode"]')), 30000);
  const mode = await text('[data-testid="mode"]');
  if (mode.trim() !== "tauri") throw new Error(`mode ${mode}`);
  ok("window renders the dashboard (typed IPC)");
  // The first run opens the welcome; its first step shows what the hardware trial found.
  await driver.wait(() => exists('dialog[data-testid="welcome"][open] [data-testid="welcome-hw"]'), 30000, "the first-run welcome");
  const hw = await text('[data-testid="welcome-hw"]');
  if (!/software: works/.test(hw ?? "")) throw new Error(`welcome hardware step: ${hw}`);
  writeFileSync(`${shots}/tray-welcome.png`, await driver.takeScreenshot(), "base64");
  await driver.findElement(By.css('[data-testid="welcome-skip"]')).click();
  await driver.wait(async () => !(await exists('dialog[data-testid="welcome"]')), 5000, "welcome closed");
  ok("the first run shows the welcome (hardware proven), and Skip closes it");
  await driver.wait(async () => (await text('[data-testid="server-state"]')) === "running", 30000, "server running");
  ok("server running inside the app process");
  const urls = await driver.executeScript(`return [...document.querySelectorAll(".urls code")].map((c) => c.textContent)`);
  for (const u of urls) {
    const m = u.match(/^http:\/\/127\.0\.0\.1:(\d+)$/);
    if (m) port = Number(m[1]);
  }
  if (!port) throw new Error("no loopback URL shown");
  const base = `http://127.0.0.1:${port}`;
  writeFileSync(`${shots}/tray-window.png`, await driver.takeScreenshot(), "base64");
  ok("screenshot");

  const r = await fetch(`${base}/api/transcode/start`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ source, output: { bitrate: "300k" } }),
  });
  if (!r.ok) throw new Error(`start: ${r.status} ${await r.text()}`);
  const job = await r.json();
  await driver.executeScript("location.hash = '#jobs'");
  await waitFor(`[data-testid="live-jobs"] tr[data-job="${job.job_id}"]`, 20000);
  ok("a job started over HTTP shows in the window (IPC events)");
  await driver.executeScript("location.hash = '#hardware'");
  await waitFor('[data-testid="accelerators"] tr[data-accel="software"]', 20000);
  ok("hardware view");
  writeFileSync(`${shots}/tray-window-hardware.png`, await driver.takeScreenshot(), "base64");

  appPid = Number(execFileSync("sh", ["-c", `ss -ltnp 'sport = :${port}' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2`]).toString().trim());

  // No notification daemon here: a failed job's notification shows in the dashboard.
  const bad = await fetch(`${base}/api/transcode/start`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ source: source.replace("slow.mkv", "missing.mkv") }),
  });
  if (!bad.ok) throw new Error(`start: ${bad.status} ${await bad.text()}`);
  await driver.wait(async () => /Transcode failed/.test((await text('[data-testid="notices"]')) ?? ""), 30000, "the missed notification in the dashboard");
  ok("a notification the desktop cannot show is shown in the dashboard");

  // No tray host: closing the window must not hide the app to nowhere.
  const closed = execFileSync("/usr/bin/python3", [new URL("./close_window.py", import.meta.url).pathname, "GhostStream"]).toString().trim();
  const alive = execFileSync("sh", ["-c", `kill -0 ${appPid} 2>/dev/null && echo yes || echo no`]).toString().trim();
  if (closed !== "viewable" || alive !== "yes") throw new Error(`after close without a tray host: window ${closed}, app alive ${alive}`);
  const logFile = `${home}/.local/share/ghoststream/logs/ghoststream.log`;
  if (!/minimised instead of closed/.test(readFileSync(logFile, "utf8"))) throw new Error("the close was not handled as tray-less");
  ok("without a tray host, closing the window minimises it (the app and window stay)");
  const ffmpegBefore = execFileSync("sh", ["-c", `pgrep -P ${appPid} -x ffmpeg || true`]).toString().trim();
  if (!ffmpegBefore) throw new Error("no ffmpeg running before quit");
  await driver.executeScript("location.hash = '#overview'");
  await waitFor('[data-testid="quit"]', 10000);
  await driver.executeScript(`document.querySelector('[data-testid="quit"]').click()`);
  // A job runs: Quit asks first, naming it; keeping it running changes nothing.
  await waitFor('dialog[data-testid="confirm-exit"][open]', 10000);
  const asked = await text('dialog[data-testid="confirm-exit"]');
  if (!asked.includes("slow.mkv")) throw new Error(`the confirmation does not name the job: ${asked}`);
  await driver.executeScript(`document.querySelector('dialog[data-testid="confirm-exit"] button[value="keep"]').click()`);
  await driver.wait(async () => !(await exists('dialog[data-testid="confirm-exit"]')), 5000, "dialog closed");
  if (execFileSync("sh", ["-c", `kill -0 ${appPid} 2>/dev/null && echo yes || echo no`]).toString().trim() !== "yes") throw new Error("Keep running quit the app");
  ok("Quit with a job running asks first, naming the job");
  await driver.executeScript(`document.querySelector('[data-testid="quit"]').click()`);
  await waitFor('dialog[data-testid="confirm-exit"][open]', 10000);
  await driver.executeScript(`document.querySelector('dialog[data-testid="confirm-exit"] button[value="go"]').click()`).catch(() => {});
  const t0 = Date.now();
  let gone = false;
  while (Date.now() - t0 < 15000) {
    const alive = execFileSync("sh", ["-c", `kill -0 ${appPid} 2>/dev/null && echo yes || echo no`]).toString().trim();
    if (alive === "no") { gone = true; break; }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (!gone) throw new Error("the app did not exit on Quit");
  // Only the app's own ffmpeg children, by pid: other ffmpeg on the machine are not ours.
  const ours = ffmpegBefore.split(/\s+/).filter(Boolean);
  const left = ours.filter((pid) => {
    const state = execFileSync("sh", ["-c", `awk '{print $3}' /proc/${pid}/stat 2>/dev/null || true`]).toString().trim();
    return state !== "" && state !== "Z";
  });
  if (left.length) throw new Error(`ffmpeg left after quit: ${left.join(" ")}`);
  const listening = execFileSync("sh", ["-c", `ss -ltn 'sport = :${port}' | tail -n +2`]).toString().trim();
  if (listening) throw new Error(`port ${port} still listening after quit`);
  ok("quit leaves no ffmpeg and no listener");

  // The job Quit ended is in the history as cancelled, with the reason.
  const serve = spawn(cli, ["serve", "--host", "127.0.0.1", "--port", "0", "--no-mdns"], { env: process.env, stdio: ["ignore", "pipe", "pipe"] });
  try {
    let said = "";
    const cliPort = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`ghoststream serve printed no port: ${said}`)), 30000);
      const read = (d) => {
        said += d.toString();
        const m = said.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
        if (m) { clearTimeout(t); resolve(Number(m[1])); }
      };
      serve.stdout.on("data", read);
      serve.stderr.on("data", read);
    });
    const list = await (await fetch(`http://127.0.0.1:${cliPort}/api/transcode/jobs`)).json();
    const rec = list.jobs.find((j) => j.job_id === job.job_id);
    if (!rec || rec.status !== "cancelled" || rec.error_message !== "cancelled: GhostStream was quit") throw new Error(`the quit job is recorded as ${JSON.stringify(rec && { status: rec.status, error: rec.error_message })}`);
    ok(`the job Quit ended is recorded as cancelled ("${rec.error_message}")`);
  } finally {
    serve.kill("SIGTERM");
  }
} catch (e) {
  console.error(String(e));
  failed = true;
} finally {
  await driver.quit().catch(() => {});
  driverProc.kill();
  mediaServer.close();
}
process.exit(failed ? 1 : 0);
