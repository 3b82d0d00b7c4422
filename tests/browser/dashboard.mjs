// The dashboard in headless Chromium against a real server (HTTP transport).
// Usage: node dashboard.mjs BASE_URL JOB_ID SCREENSHOT_DIR GHOSTHUB_URL MEDIA_FILE
// A job was started through the API before this runs; it must appear with a moving
// progress bar, be cancellable from the UI, and the hardware and stats views must render.
import { launch } from "./chromium.mjs";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";

const [base, jobId, shots, hub, mediaFile] = process.argv.slice(2);
mkdirSync(`${shots}/layout`, { recursive: true });
const browser = await launch();
let failed = false;
const ok = (m) => console.log(`ok ${m}`);
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
  page.on("pageerror", (e) => console.log("pageerror:", String(e)));
  await page.goto(`${base}/#overview`);
  await page.waitForSelector('[data-testid="server-state"]');
  const mode = await page.textContent('[data-testid="mode"]');
  if (mode.trim() !== "http") throw new Error(`mode ${mode}`);
  await page.waitForFunction(() => document.querySelector('[data-testid="server-state"]')?.textContent === "running");
  ok("overview shows running");
  await page.screenshot({ path: `${shots}/dashboard-overview.png` });

  await page.goto(`${base}/#jobs`);
  const row = `[data-testid="live-jobs"] tr[data-job="${jobId}"]`;
  await page.waitForSelector(row, { timeout: 20000 });
  const width = () => page.$eval(`${row} .bar i`, (i) => parseFloat(i.style.width));
  const first = await width();
  await page.waitForFunction(([sel, w]) => {
    const i = document.querySelector(`${sel} .bar i`);
    return i && parseFloat(i.style.width) > w;
  }, [row, first], { timeout: 30000 });
  ok(`progress moves (from ${first}% to ${await width()}%)`);
  const delivery = await page.textContent(`${row} [data-testid="delivery"]`);
  if (!/^(Direct|Remux|Transcode)/.test(delivery ?? "")) throw new Error(`delivery cell: ${delivery}`);
  const picture = await page.$eval(row, (tr) => tr.cells[3].textContent);
  if (!/\d+x\d+/.test(picture ?? "")) throw new Error(`picture cell: ${picture}`);
  ok(`the row says what the job does and why ("${delivery.trim().slice(0, 80)}"), and the picture in → out (${picture})`);
  // Focus kept across live updates: the Pause button keeps focus while progress moves.
  await page.focus(`${row} button[data-act="pause"]`);
  const at = await width();
  await page.waitForFunction(([sel, w]) => parseFloat(document.querySelector(`${sel} .bar i`)?.style.width ?? "0") > w, [row, at], { timeout: 30000 });
  const kept = await page.evaluate((sel) => document.activeElement === document.querySelector(`${sel} button[data-act="pause"]`), row);
  if (!kept) throw new Error("focus lost to a live update");
  ok("keyboard focus stays on a row's button while its progress updates");
  await page.screenshot({ path: `${shots}/dashboard-jobs.png` });
  // The running job's log, live: its command, then what happens as it happens.
  await page.click(`${row} td.name`);
  const logHas = (text) => page.waitForFunction((t) => (document.querySelector('[data-testid="job-log"]')?.textContent ?? "").includes(t), text, { timeout: 10000 });
  await logHas("$ ffmpeg");
  // Keyboard only: the row takes focus, Tab reaches its Pause button, Enter presses it.
  await page.focus(row);
  await page.keyboard.press("Tab");
  const onPause = await page.evaluate(() => document.activeElement?.getAttribute("data-act"));
  if (onPause !== "pause") throw new Error(`Tab from the row reached ${onPause}`);
  await page.keyboard.press("Enter");
  await page.waitForFunction((sel) => document.querySelector(`${sel} .badge`)?.textContent === "paused", row, { timeout: 10000 });
  await logHas("frozen: paused by request");
  ok("the log of a running job tails live");
  await page.waitForSelector(`${row} button[data-act="resume"]`, { timeout: 5000 });
  ok("pause a running job from its row, by keyboard");
  await page.click(`${row} button[data-act="resume"]`);
  await page.waitForFunction((sel) => document.querySelector(`${sel} .badge`)?.textContent !== "paused", row, { timeout: 10000 });
  ok("and resume it");
  await page.click(`${row} button[data-act="cancel"]`);
  await page.waitForSelector(`[data-testid="history"] tr[data-job="${jobId}"] .badge.cancelled`, { timeout: 15000 });
  ok("cancel from the UI");
  const announced = await page.textContent('[data-testid="jobs-announce"]');
  if (!/is cancelled/.test(announced ?? "")) throw new Error(`status change not announced: ${announced}`);
  ok(`the status change is announced to screen readers ("${announced}")`);
  await page.click(`[data-testid="history"] tr[data-job="${jobId}"]`);
  await page.waitForFunction(() => (document.querySelector('[data-testid="job-log"]')?.textContent ?? "").includes("ffmpeg"), null, { timeout: 10000 });
  ok("job detail shows the ffmpeg command");
  // History, by keyboard: Retry starts the same request again and focus follows the new
  // job; Remove deletes that one; the search filters; Clear history asks first.
  const done = `[data-testid="history"] tr[data-job="${jobId}"]`;
  const took = await page.$eval(done, (tr) => [tr.cells[5].textContent, tr.cells[6].textContent, tr.cells[9].textContent]);
  if (took[0] === "–" || took[1] === "–" || took[2] !== "cancelled") throw new Error(`history row: ${took}`);
  await page.focus(`${done} button[data-act="retry"]`);
  await page.keyboard.press("Enter");
  await page.waitForFunction((id) => { const a = document.activeElement; return a?.matches?.('[data-testid="live-jobs"] tr[data-job]') && a.dataset.job !== id; }, jobId, { timeout: 15000 });
  const retried = await page.evaluate(() => document.activeElement.dataset.job);
  ok(`Retry (Enter) starts the request again as job ${retried.slice(0, 8)}, and focus follows it`);
  await page.click(`tr[data-job="${retried}"] button[data-act="cancel"]`);
  await page.waitForSelector(`[data-testid="history"] tr[data-job="${retried}"] button[data-act="remove"]`, { timeout: 15000 });
  await page.focus(`[data-testid="history"] tr[data-job="${retried}"] button[data-act="remove"]`);
  await page.keyboard.press("Enter");
  await page.waitForFunction((id) => !document.querySelector(`tr[data-job="${id}"]`), retried, { timeout: 10000 });
  const gone = await fetch(`${base}/api/transcode/${retried}/status`);
  if (gone.status !== 404 && gone.status !== 403) throw new Error(`removed job answers ${gone.status}`);
  ok("Remove (Enter) deletes a finished job");
  await page.focus('[data-testid="history-search"]');
  await page.keyboard.type("no-such-file-anywhere");
  await page.waitForSelector('[data-empty="filtered"]:not([hidden])');
  await page.fill('[data-testid="history-search"]', "cancel");
  const shown = await page.$$eval('[data-testid="history"] tr[data-job]:not([hidden])', (r) => r.length);
  if (shown < 1) throw new Error("search for 'cancel' shows nothing");
  await page.fill('[data-testid="history-search"]', "");
  ok("search filters the history");
  await page.focus('[data-testid="history-clear"]');
  await page.keyboard.press("Enter");
  await page.waitForSelector('[data-testid="history-clear-no"]:focus', { timeout: 5000 });
  await page.keyboard.press("Escape");
  await page.waitForSelector('[data-testid="history-clear"]:focus', { timeout: 5000 });
  if (!(await page.$(done))) throw new Error("Escape on Clear history removed jobs");
  ok("Clear history asks first; Escape keeps everything and returns focus");

  // A file chosen on the page is uploaded (tus), then a job starts from it.
  await page.setInputFiles('[data-field="file"]', mediaFile);
  await page.waitForFunction(() => (document.querySelector('[data-testid="upload-status"]')?.textContent ?? "").includes("uploaded"), null, { timeout: 30000 });
  ok("upload with progress");
  await page.selectOption('[data-field="up-start"] select[name="mode"]', "batch");
  await page.click('[data-field="up-start"] button[type="submit"]');
  await page.waitForFunction(() => [...document.querySelectorAll("tr[data-job] td.name")].some((td) => td.title.startsWith("upload:")), null, { timeout: 15000 });
  ok("a job starts from the upload");
  await page.screenshot({ path: `${shots}/dashboard-upload.png` });

  await page.goto(`${base}/#hardware`);
  await page.waitForSelector('[data-testid="accelerators"] tr[data-accel="software"] .badge.ready', { timeout: 15000 });
  await page.waitForFunction(() => document.querySelectorAll("svg.chart polyline").length >= 2, null, { timeout: 15000 });
  const chartWords = await page.$$eval('svg.chart[role="img"]', (svgs) => svgs.map((s) => s.getAttribute("aria-label")));
  if (!chartWords.some((w) => /CPU: now \d+%, lowest/.test(w ?? ""))) throw new Error(`charts without words: ${JSON.stringify(chartWords)}`);
  ok("hardware view renders accelerators and live charts, each with its figures in words");
  await page.screenshot({ path: `${shots}/dashboard-hardware.png` });

  await page.goto(`${base}/#stats`);
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="total-jobs"]')?.textContent) >= 1, null, { timeout: 15000 });
  ok("stats view renders totals");
  await page.screenshot({ path: `${shots}/dashboard-stats.png` });

  await page.goto(`${base}/#pairing`);
  await page.waitForSelector('[data-testid="qr"] svg', { timeout: 10000 });
  const code = (await page.textContent('[data-testid="pair-code"]')).trim();
  if (!/^[A-Z2-9]{6}$/.test(code)) throw new Error(`pairing code ${code}`);
  ok(`pairing shows a QR code and the code ${code}`);
  await page.fill('[data-testid="ghosthub-form"] input[name="ghosthub_url"]', hub);
  await page.click('[data-testid="ghosthub-form"] button[type="submit"]');
  await page.waitForFunction(() => (document.querySelector('[data-testid="pair-message"]')?.textContent ?? "").startsWith("Registered"), null, { timeout: 15000 });
  ok("GhostHub URL saved and registered from the panel");
  await page.click('[data-act="check"]');
  await page.waitForSelector('[data-testid="reachability"] li.ok', { timeout: 15000 });
  ok("reachability self-test");
  await page.screenshot({ path: `${shots}/dashboard-pairing.png` });

  await page.goto(`${base}/#settings`);
  await page.waitForSelector('[data-testid="settings"] input[name="max_concurrent_jobs"]');
  await page.fill('input[name="max_concurrent_jobs"]', "3");
  // The week grid: Monday 01:00–03:00 open.
  await page.click('[data-testid="schedule"] button.cell[data-day="0"][data-hour="1"]');
  await page.click('[data-testid="schedule"] button.cell[data-day="0"][data-hour="2"]');
  await page.click('[data-testid="settings"] button[type="submit"]');
  await page.waitForFunction(() => {
    const m = document.querySelector('[data-testid="settings-message"]')?.textContent ?? "";
    // In the words the form showed, not config keys.
    return m.includes("“Max concurrent jobs”") && m.includes("“When jobs may run”") && !m.includes("max_concurrent_jobs");
  }, null, { timeout: 10000 });
  const saved = await (await fetch(`${base}/api/settings`)).json();
  const w = JSON.stringify(saved.schedule);
  if (w !== JSON.stringify([{ days: ["mon"], start: "01:00", end: "03:00", max_jobs: 1 }])) throw new Error(`schedule ${w}`);
  ok("settings saved and applied, the schedule from the week grid");
  await page.screenshot({ path: `${shots}/dashboard-settings.png` });

  // Troubleshooting: a request refused now reaches the live log with its reason and
  // client; the reachability check runs by keyboard; diagnostics are copied.
  await page.goto(`${base}/#troubleshoot`);
  await page.waitForFunction(() => (document.querySelector('[data-testid="app-log"]')?.textContent ?? "").includes("server started"), null, { timeout: 10000 });
  await fetch(`${base}/api/transcode/start`, { method: "POST", headers: { "Content-Type": "application/json", "X-GhostStream-Client": "red-team" }, body: JSON.stringify({ source: "file:///etc/passwd" }) });
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="app-log"] .line.warn')].some((l) => /refused POST \/api\/transcode\/start from red-team at 127\.0\.0\.1: 422 invalid-request/.test(l.textContent)), null, { timeout: 10000 });
  ok("a refused request appears in the live log with its reason and client");
  await page.check('[data-testid="log-problems"]');
  const infoShown = await page.$$eval('[data-testid="app-log"] .line.info:not([hidden])', (l) => l.length);
  if (infoShown) throw new Error("'Only problems' still shows info lines");
  await page.focus('[data-testid="run-reachability"]');
  await page.keyboard.press("Enter");
  await page.waitForSelector('[data-testid="reachability"] li.ok', { timeout: 15000 });
  ok("reachability check by keyboard");
  await page.click('[data-testid="copy-diagnostics"]');
  await page.waitForFunction(() => /Diagnostics copied|clipboard refused/.test(document.querySelector('[data-testid="diag-message"]')?.textContent ?? ""), null, { timeout: 10000 });
  const report = await page.$eval('textarea[data-field="diag"]', (t) => t.value);
  for (const part of ["## Server", "## Capabilities", "## Settings (secrets hidden)", "## Last log lines", "refused POST"]) {
    if (!report.includes(part)) throw new Error(`diagnostics lack ${part}`);
  }
  ok("copy diagnostics: versions, capabilities, settings without secrets, the log");
  await page.screenshot({ path: `${shots}/dashboard-troubleshooting.png` });

  // The welcome, from Settings, by keyboard alone: three steps, then focus comes back.
  await page.goto(`${base}/#settings`);
  await page.focus('[data-testid="show-welcome"]');
  await page.keyboard.press("Enter");
  await page.waitForSelector('dialog[data-testid="welcome"][open] [data-testid="welcome-hw"]', { timeout: 10000 });
  await page.waitForSelector('[data-testid="welcome-next"]:focus');
  await page.keyboard.press("Enter");
  await page.waitForSelector('dialog[data-testid="welcome"][data-step="1"] .urls code', { timeout: 10000 });
  await page.click('[data-testid="welcome-reach"]');
  await page.waitForSelector('dialog[data-testid="welcome"] [data-testid="reach-summary"]', { timeout: 15000 });
  await page.focus('[data-testid="welcome-next"]');
  await page.keyboard.press("Enter");
  await page.waitForSelector('dialog[data-testid="welcome"][data-step="2"] .qr svg', { timeout: 10000 });
  const wcode = (await page.textContent('[data-testid="welcome-code"]')).trim();
  if (!/^[A-Z2-9]{6}$/.test(wcode)) throw new Error(`welcome code ${wcode}`);
  await page.screenshot({ path: `${shots}/dashboard-welcome.png` });
  await page.focus('[data-testid="welcome-next"]');
  await page.keyboard.press("Enter");
  await page.waitForSelector('dialog[data-testid="welcome"]', { state: "detached", timeout: 5000 });
  await page.waitForSelector('[data-testid="show-welcome"]:focus', { timeout: 5000 });
  ok(`the welcome walks hardware, network and pairing (code ${wcode}) by keyboard, and gives focus back`);

  await page.goto(`${base}/#stats`);
  await page.waitForSelector('svg.chart rect[fill]', { timeout: 10000 });
  await page.focus('[data-testid="stats-14d"]');
  await page.keyboard.press("Enter");
  await page.waitForSelector('[data-testid="stats-14d"][aria-pressed="true"]');
  await page.waitForFunction(() => [...document.querySelectorAll("svg.chart text.value")].some((t) => /^\d+$/.test(t.textContent)), null, { timeout: 10000 });
  const said = await page.$eval('svg.chart[role="img"]', (s) => s.getAttribute("aria-label"));
  if (!/Cancelled/.test(said ?? "")) throw new Error(`the jobs chart in words: ${said}`);
  ok("stats: 24-hour and 14-day views by keyboard, values on the bars, the split in words");

  // Every panel in both themes (following the system), at a desktop and a phone width:
  // no horizontal overflow, one h1, the theme's own background; a screenshot of each
  // (docs/screenshots/ holds the committed set).
  const panels = ["overview", "jobs", "live", "hardware", "stats", "pairing", "settings", "troubleshoot"];
  const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
  const axeFailures = [];
  const backgrounds = { dark: "rgb(15, 17, 23)", light: "rgb(244, 245, 249)" };
  for (const theme of ["dark", "light"]) {
    for (const width of [1400, 390]) {
      const p = await browser.newPage({ viewport: { width, height: 900 }, colorScheme: theme });
      p.on("pageerror", (e) => console.log("pageerror:", String(e)));
      for (const panel of panels) {
        await p.goto(`${base}/#${panel}`);
        await p.waitForSelector("h1.view-title");
        await p.waitForTimeout(600);
        const m = await p.evaluate(() => ({
          scroll: document.documentElement.scrollWidth,
          inner: window.innerWidth,
          h1: document.querySelectorAll("h1").length,
          bg: getComputedStyle(document.body).backgroundColor,
          wide: [...document.querySelectorAll("body *")].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest(".card")).map((e) => e.tagName + "." + e.className).slice(0, 5),
        }));
        if (m.scroll > m.inner) throw new Error(`${panel} at ${width} px (${theme}) overflows: ${m.scroll} > ${m.inner} (${m.wide.join(", ")})`);
        if (m.h1 !== 1) throw new Error(`${panel} has ${m.h1} h1`);
        if (m.bg !== backgrounds[theme]) throw new Error(`${panel} in ${theme}: background ${m.bg}`);
        await p.screenshot({ path: `${shots}/layout/${panel}-${theme}-${width}.png`, fullPage: width < 800 });
        // axe-core: no serious or critical accessibility violation.
        await p.addScriptTag({ path: axePath });
        const bad = await p.evaluate(async () => {
          const r = await window.axe.run(document, { resultTypes: ["violations"] });
          return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
        });
        if (bad.length) axeFailures.push(`${panel} ${theme} ${width}px: ${bad.join("; ")}`);
      }
      await p.close();
    }
  }
  if (axeFailures.length) throw new Error(`axe-core:\n${axeFailures.join("\n")}`);
  ok("every panel in dark and light at 1400 and 390 px: no horizontal overflow, one h1, no serious or critical axe-core violation");
} catch (e) {
  console.error(String(e));
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
