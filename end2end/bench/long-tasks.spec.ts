import { test, type Browser } from "@playwright/test";
import * as fs from "fs";
import * as path from "path";

/** The main thread's long tasks while the settings page and its form load and hydrate, as
 * Chromium itself times them (the Long Tasks API), with a 4x CPU slowdown like Lighthouse's
 * mobile preset. A report for `make bench-size`, not a threshold: Lighthouse simulates its
 * figures from one trace, this counts what really ran, five fresh loads per page. Writes
 * target/long-tasks.txt. */
const PAGES = ["/ConMasManager/System/MailSetting", "/ConMasManager/System/MailSetting/Edit"];
const RUNS = 5;

/** One load in a fresh context (the global set-up's session, nothing cached): the lengths of
 * the tasks over 50 ms until the page is hydrated, and a second after. */
async function longTasks(browser: Browser, url: string): Promise<number[]> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    // The renderer's own start-up is not the page's: a blank page first.
    await page.goto("about:blank");
    const cdp = await context.newCDPSession(page);
    await cdp.send("Emulation.setCPUThrottlingRate", { rate: 4 });
    await page.addInitScript(() => {
      const tasks: number[] = [];
      (window as unknown as { longTasks: number[] }).longTasks = tasks;
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) tasks.push(Math.round(entry.duration));
      }).observe({ type: "longtask", buffered: true });
    });
    await page.goto(url);
    await page.waitForSelector("body[data-hydrated=true]", { timeout: 60_000 });
    // Anything queued right after hydration (effects, the deferred sections' last tasks).
    await page.waitForTimeout(1_000);
    return await page.evaluate(() => (window as unknown as { longTasks: number[] }).longTasks);
  } finally {
    await context.close();
  }
}

test("long tasks while the settings pages hydrate", async ({ browser }) => {
  test.setTimeout(300_000);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const lines = ["Chromium, 4x CPU slowdown, empty cache; task lengths in ms"];
  for (const url of PAGES) {
    lines.push(url);
    const longest: number[] = [];
    const blocking: number[] = [];
    for (let run = 1; run <= RUNS; run++) {
      const tasks = await longTasks(browser, url);
      const max = Math.max(0, ...tasks);
      const total = tasks.reduce((sum, t) => sum + Math.max(0, t - 50), 0);
      longest.push(max);
      blocking.push(total);
      lines.push(`  run ${run}: tasks over 50 ms: ${tasks.join(", ") || "none"}; longest ${max}, blocking ${total}`);
    }
    lines.push(`  median of ${RUNS}: longest task ${median(longest)} ms, blocking time ${median(blocking)} ms`);
  }
  const out = path.join(__dirname, "..", "..", "target", "long-tasks.txt");
  fs.writeFileSync(out, lines.join("\n") + "\n");
  console.log(lines.join("\n"));
});
