// Plays a GhostStream HLS stream with hls.js in headless Chromium (Debian's package,
// driven by playwright-core): currentTime advances, a seek to 80 % plays.
// Usage: node hls_play.mjs PAGE_URL STREAM_URL
import { launch, openPlayer } from "./chromium.mjs";

const [pageUrl, streamUrl] = process.argv.slice(2);
const browser = await launch(["--autoplay-policy=no-user-gesture-required"]);
let failed = false;
try {
  const page = await openPlayer(browser, pageUrl, streamUrl);
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
