// Drives the face-check capture page in the system Chromium with a fake camera, waits until
// the page reports its result, and saves a screenshot. Usage:
//   node capture.mjs <chromium> <camera.mjpeg> <captureUrl> <screenshot.png>
// Prints `RESULT <verified|refused|timeout>`.
import { chromium } from "playwright-core";

const [browserPath, camera, url, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: browserPath,
  args: [
    "--no-sandbox",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    `--use-file-for-fake-video-capture=${camera}`,
  ],
});
let result = "timeout";
try {
  const page = await browser.newPage({ viewport: { width: 480, height: 900 } });
  await page.goto(url);
  await page.waitForSelector("body[data-result]", { timeout: 30000 });
  result = await page.getAttribute("body", "data-result");
  await page.screenshot({ path: screenshot, fullPage: true });
} catch (e) {
  console.error(String(e));
} finally {
  await browser.close();
}
console.log(`RESULT ${result}`);
