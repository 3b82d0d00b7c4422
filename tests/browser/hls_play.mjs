// Plays a GhostStream HLS stream with hls.js in headless Chromium (Debian's package,
// driven by playwright-core): currentTime advances, a seek to 80 % plays.
// Usage: node hls_play.mjs PAGE_URL STREAM_URL
import { launch } from "./chromium.mjs";

const [pageUrl, streamUrl] = process.argv.slice(2);
const browser = await launch(["--autoplay-policy=no-user-gesture-required"]);
let failed = false;
try {
  const page = await browser.newPage();
  page.on("console", (m) => console.log("page:", m.text()));
  await page.goto(`${pageUrl}?src=${encodeURIComponent(streamUrl)}`);
  await page.waitForFunction(() => window.hlsReady === true || window.hlsError, null, { timeout: 60000 });
  const err = await page.evaluate(() => window.hlsError);
  if (err) throw new Error(`hls.js error: ${err}`);
  await page.waitForFunction(() => document.querySelector("video").currentTime > 1.0, null, { timeout: 60000 });
  const duration = await page.evaluate(() => document.querySelector("video").duration);
  console.log(`ok plays duration=${duration}`);
  const target = duration * 0.8;
  await page.evaluate((t) => { document.querySelector("video").currentTime = t; }, target);
  await page.waitForFunction((t) => document.querySelector("video").currentTime > t + 0.5, target, { timeout: 60000 });
  const at = await page.evaluate(() => document.querySelector("video").currentTime);
  console.log(`ok seek target=${target.toFixed(2)} now=${at.toFixed(2)}`);
} catch (e) {
  console.error(String(e));
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
