// The /pair page a phone opens after scanning the QR code, in headless Chromium.
// Usage: node pair.mjs PAIR_URL GHOSTHUB_URL
import { launch } from "./chromium.mjs";

const [pairUrl, hub] = process.argv.slice(2);
const browser = await launch();
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 420, height: 800 } });
  await page.goto(pairUrl);
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("Online"), null, { timeout: 10000 });
  await page.waitForFunction(() => document.getElementById("name").textContent.includes("-"), null, { timeout: 10000 });
  console.log(`ok page shows ${await page.textContent("#name")} · ${await page.textContent("#hw")}`);
  await page.fill("#hub", hub);
  await page.click("button[type=submit]");
  await page.waitForFunction(() => document.getElementById("result").className === "ok", null, { timeout: 15000 });
  console.log(`ok ${await page.textContent("#result")}`);
  await page.screenshot({ path: process.env.SHOT || "/tmp/pair.png" });
} catch (e) {
  console.error(String(e));
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
