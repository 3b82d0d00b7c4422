// Plays a GhostStream HLS stream with audio renditions in hls.js (headless Chromium):
// lists the audio tracks, starts on the default one, switches to another and keeps
// playing. Usage: node hls_audio.mjs PAGE_URL STREAM_URL
import { launch, openPlayer } from "./chromium.mjs";

const [pageUrl, streamUrl] = process.argv.slice(2);
const browser = await launch(["--autoplay-policy=no-user-gesture-required"]);
let failed = false;
try {
  const page = await openPlayer(browser, pageUrl, streamUrl);
  const video = () => document.querySelector("video").currentTime;
  await page.waitForFunction(() => document.querySelector("video").currentTime > 1.0 || window.hlsError, null, { timeout: 60000 });
  const err = await page.evaluate(() => window.hlsError);
  if (err) throw new Error(`hls.js error: ${err}`);
  const tracks = await page.evaluate(() => window.hls.audioTracks.map((t) => `${t.lang}:${t.name}:${t.default}`));
  const current = await page.evaluate(() => window.hls.audioTrack);
  console.log(`ok tracks=${tracks.join(",")} current=${current}`);
  const other = current === 0 ? 1 : 0;
  const at = await page.evaluate(video);
  await page.evaluate((id) => { window.hls.audioTrack = id; }, other);
  await page.waitForFunction((id) => window.audioSwitched === id || window.hlsError, other, { timeout: 60000 });
  await page.waitForFunction((t) => document.querySelector("video").currentTime > t + 1.0 || window.hlsError, at, { timeout: 60000 });
  const err2 = await page.evaluate(() => window.hlsError);
  if (err2) throw new Error(`hls.js error after the switch: ${err2}`);
  const now = await page.evaluate(video);
  console.log(`ok switched to=${other} playing from ${at.toFixed(2)} to ${now.toFixed(2)}`);
} catch (e) {
  console.error(String(e));
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
