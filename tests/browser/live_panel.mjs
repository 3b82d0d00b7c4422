// The dashboard's Live panel in headless Chromium against a real server: a key made in
// the panel, a real ffmpeg publishing on it over RTMP, the stream live in the panel with
// its preview playing, renditions and chart, then Stop from the panel and the key revoked.
// Usage: node live_panel.mjs BASE_URL SCREENSHOT_DIR
import { launch } from "./chromium.mjs";
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";

const [base, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await launch(["--autoplay-policy=no-user-gesture-required"]);
let failed = false;
let publisher = null;
const ok = (m) => console.log(`ok ${m}`);
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", (e) => console.log("pageerror:", String(e)));
  page.on("dialog", (d) => void d.accept());
  await page.goto(`${base}/#live`);
  await page.waitForSelector('[data-testid="rtmp-server"]', { timeout: 20000 });
  const server = (await page.textContent('[data-testid="rtmp-server"]')).trim();
  if (!/^rtmp:\/\/.+:\d+\/live$/.test(server)) throw new Error(`server ${server}`);
  ok(`the OBS server URL is shown: ${server}`);
  await page.fill('[data-testid="new-key"] input[name="name"]', "OBS test");
  await page.click('[data-testid="new-key"] button[type="submit"]');
  await page.waitForSelector('[data-testid="stream-key"]', { timeout: 10000 });
  const key = (await page.textContent('[data-testid="stream-key"]')).trim();
  await page.waitForSelector(".keys .qr svg", { timeout: 10000 });
  if (!(await page.$(`.keys button[data-copy="${key}"]`))) throw new Error("no copy button for the key");
  ok("a key is made in the panel, with copy buttons and a QR code");
  // A real publisher on the key, at the address the panel shows (loopback in the test).
  const url = `rtmp://127.0.0.1:${server.split(":").pop().replace("/live", "")}/live/${key}`;
  publisher = spawn("ffmpeg", ["-hide_banner", "-loglevel", "error", "-re",
    "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
    "-t", "60", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-f", "flv", url], { stdio: ["ignore", "ignore", "inherit"] });
  const card = "article.live-stream";
  await page.waitForFunction((c) => document.querySelector(`${c} [data-testid="live-status"]`)?.textContent === "live", card, { timeout: 30000 });
  await page.waitForFunction(() => (document.querySelector('[data-testid="live-message"]')?.textContent ?? "").includes("is live"), null, { timeout: 10000 });
  ok("the stream shows as live, and the panel says so");
  await page.waitForFunction((c) => document.querySelector(`${c} video`)?.currentTime > 1, card, { timeout: 45000 });
  ok("the preview plays (hls.js)");
  await page.waitForFunction((c) => document.querySelectorAll(`${c} table.renditions tbody tr`).length === 2
    && [...document.querySelectorAll(`${c} table.renditions .badge`)].every((b) => b.textContent === "encoding"), card, { timeout: 20000 });
  await page.waitForSelector(`${card} svg.chart polyline`, { timeout: 10000 });
  ok("renditions and the bytes chart");
  await page.screenshot({ path: `${shots}/dashboard-live.png` });
  await page.click(`${card} button[data-act="stop"]`);
  await page.waitForFunction((c) => document.querySelector(`${c} [data-testid="live-status"]`)?.textContent === "recorded", card, { timeout: 30000 });
  ok("Stop disconnects the publisher and keeps the recording");
  const exited = await new Promise((r) => { if (publisher.exitCode !== null) r(true); publisher.on("exit", () => r(true)); setTimeout(() => r(false), 15000); });
  if (!exited) throw new Error("the publisher was not disconnected");
  await page.click(`.keys li[data-key="${key}"] button[data-act="revoke"]`);
  await page.waitForFunction((k) => !document.querySelector(`.keys li[data-key="${k}"]`), key, { timeout: 10000 });
  ok("the key is revoked");
} catch (e) {
  console.error(String(e));
  failed = true;
} finally {
  publisher?.kill("SIGKILL");
  await browser.close();
}
process.exit(failed ? 1 : 0);
