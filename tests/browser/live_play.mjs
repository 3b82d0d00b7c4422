// Plays a GhostStream live stream with hls.js and with dash.js in headless Chromium.
// Phase "live": each player reports a live stream and its time advances by 2 s.
// Phase "vod": each reports a finished stream, plays, and a seek to 80 % plays on.
// Usage: node live_play.mjs PAGE_URL HLS_URL DASH_URL live|vod
import { launch } from "./chromium.mjs";

const [pageUrl, hlsUrl, dashUrl, phase] = process.argv.slice(2);
const browser = await launch(["--autoplay-policy=no-user-gesture-required"]);
let failed = false;
try {
  for (const [kind, url] of [["hls", hlsUrl], ["dash", dashUrl]]) {
    const page = await browser.newPage();
    page.on("console", (m) => { if (m.type() === "error") console.log(`${kind} page:`, m.text()); });
    await page.goto(`${pageUrl}?kind=${kind}&src=${encodeURIComponent(url)}`);
    await page.waitForFunction(() => window.playerReady === true || window.playerError, null, { timeout: 60000 });
    const video = () => document.querySelector("video");
    const check = async () => {
      const err = await page.evaluate(() => window.playerError);
      if (err) throw new Error(err);
    };
    await check();
    await page.waitForFunction(() => document.querySelector("video").currentTime > 0.5 || window.playerError, null, { timeout: 60000 });
    await check();
    const start = await page.evaluate(() => document.querySelector("video").currentTime);
    const live = await page.evaluate(() => window.isLive());
    if (phase === "live") {
      if (live !== true) throw new Error(`${kind}: not a live stream (${live})`);
      await page.waitForFunction((t) => document.querySelector("video").currentTime > t + 2 || window.playerError, start, { timeout: 60000 });
      await check();
      console.log(`ok ${kind} live from ${start.toFixed(2)}`);
    } else {
      if (live !== false) throw new Error(`${kind}: still live (${live})`);
      const duration = await page.evaluate(() => document.querySelector("video").duration);
      const target = duration * 0.8;
      await page.evaluate((t) => { document.querySelector("video").currentTime = t; }, target);
      await page.waitForFunction((t) => document.querySelector("video").currentTime > t + 0.5 || window.playerError, target, { timeout: 60000 });
      await check();
      console.log(`ok ${kind} vod duration=${duration.toFixed(2)} seek=${target.toFixed(2)}`);
    }
    void video;
    await page.close();
  }
} catch (e) {
  console.error(String(e));
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
