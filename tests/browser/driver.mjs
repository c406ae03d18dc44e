// A small remote control for the system Chromium, driven over stdin/stdout with one JSON
// command per line, so Rust tests keep the whole scenario (and the reference wallet) on their
// side. Usage: node driver.mjs <chromium>
// Commands: {"op":"goto","url"}, {"op":"fill","selector","value"}, {"op":"click","selector"},
// {"op":"waitFor","selector"}, {"op":"waitStatus","status"} (body[data-status]),
// {"op":"text","selector"}, {"op":"attr","selector","name"}, {"op":"html"},
// {"op":"screenshot","path","full"?} (the whole page unless full is false), {"op":"newContext"}, {"op":"close"}.
// Each answer is one line: {"ok":true,"value":...} or {"ok":false,"error":"..."}.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const [browserPath] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: browserPath, args: ["--no-sandbox"] });
let context = await browser.newContext({ viewport: { width: 420, height: 900 } });
let page = await context.newPage();
const timeout = 30000;

async function run(cmd) {
  switch (cmd.op) {
    case "goto": await page.goto(cmd.url); return page.url();
    case "fill": await page.fill(cmd.selector, cmd.value, { timeout }); return null;
    case "click":
      await Promise.all([page.waitForLoadState("load"), page.click(cmd.selector, { timeout })]);
      await page.waitForLoadState("load");
      return page.url();
    case "waitFor": await page.waitForSelector(cmd.selector, { timeout }); return null;
    case "waitStatus":
      await page.waitForSelector(`body[data-status="${cmd.status}"]`, { timeout });
      return null;
    case "text": return (await page.textContent(cmd.selector, { timeout }))?.trim() ?? null;
    case "attr": return await page.getAttribute(cmd.selector, cmd.name, { timeout });
    case "html": return await page.content();
    case "status": return await page.getAttribute("body", "data-status");
    case "screenshot": await page.screenshot({ path: cmd.path, fullPage: cmd.full !== false }); return cmd.path;
    case "newContext":
      await context.close();
      context = await browser.newContext({ viewport: { width: 420, height: 900 } });
      page = await context.newPage();
      return null;
    case "close": await browser.close(); return null;
    default: throw new Error(`unknown op ${cmd.op}`);
  }
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let answer;
  try {
    const cmd = JSON.parse(line);
    answer = { ok: true, value: await run(cmd) };
    if (cmd.op === "close") { process.stdout.write(JSON.stringify(answer) + "\n"); break; }
  } catch (e) {
    answer = { ok: false, error: String(e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
await browser.close().catch(() => {});
process.exit(0);
