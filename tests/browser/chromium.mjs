// Debian's Chromium, headless, for the browser checks (no browser download: playwright-core
// drives /usr/bin/chromium). Background networking is off: the network here is closed.
import { chromium } from "playwright-core";

export function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync", ...extraArgs],
  });
}

/** Opens the hls.js test page on a stream and waits until hls.js parsed its master
 * playlist; throws with hls.js's error if it failed. Logs the page's console. */
export async function openPlayer(browser, pageUrl, streamUrl) {
  const page = await browser.newPage();
  page.on("console", (m) => console.log("page:", m.text()));
  await page.goto(`${pageUrl}?src=${encodeURIComponent(streamUrl)}`);
  await page.waitForFunction(() => window.hlsReady === true || window.hlsError, null, { timeout: 60000 });
  const err = await page.evaluate(() => window.hlsError);
  if (err) throw new Error(`hls.js error: ${err}`);
  return page;
}
