import { test, type Browser } from "@playwright/test";
import * as fs from "fs";
import * as path from "path";

/** The main thread's long tasks while the settings page and its form load and hydrate, as
 * Chromium itself times them (the Long Tasks API), with a 4x CPU slowdown like Lighthouse's
 * mobile preset. A report for `make bench-size`, not a threshold: Lighthouse simulates its
 * figures from one trace, this counts what really ran, nine fresh loads per page. Tasks are
 * split at the moment the page asks for the bundle's script (after its first paint): the ones
 * before are the renderer's (parsing, style, the first paint; on this machine sometimes a
 * single task of 400-800 ms that varies from load to load), the ones after are the bundle's
 * (compiling the WebAssembly, hydrating). Writes target/long-tasks.txt. */
const PAGES = ["/ConMasManager/System/MailSetting", "/ConMasManager/System/MailSetting/Edit"];
const RUNS = 9;

type Task = { start: number; length: number };

/** One load in a fresh context (the global set-up's session, nothing cached): the tasks over
 * 50 ms until the page is hydrated, and a second after, and when the bundle was asked for. */
async function longTasks(browser: Browser, url: string): Promise<{ tasks: Task[]; bundle: number }> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    // The renderer's own start-up is not the page's: a blank page first.
    await page.goto("about:blank");
    const cdp = await context.newCDPSession(page);
    await cdp.send("Emulation.setCPUThrottlingRate", { rate: 4 });
    await page.addInitScript(() => {
      const tasks: { start: number; length: number }[] = [];
      (window as unknown as { longTasks: unknown }).longTasks = tasks;
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          tasks.push({ start: entry.startTime, length: Math.round(entry.duration) });
        }
      }).observe({ type: "longtask", buffered: true });
    });
    await page.goto(url);
    await page.waitForSelector("body[data-hydrated=true]", { timeout: 60_000 });
    // Anything queued right after hydration (effects, the deferred sections' last tasks).
    await page.waitForTimeout(1_000);
    return await page.evaluate(() => {
      const tasks = (window as unknown as { longTasks: { start: number; length: number }[] }).longTasks;
      // The main module's script, imported by the page's own script after the first paint.
      const script = performance
        .getEntriesByType("resource")
        .find((r) => /\/pkg\/mail-settings\.[^/]*\.js$/.test(new URL(r.name).pathname));
      return { tasks, bundle: script ? script.startTime : 0 };
    });
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
    const before: number[] = [];
    for (let run = 1; run <= RUNS; run++) {
      const { tasks, bundle } = await longTasks(browser, url);
      const renderer = tasks.filter((t) => t.start < bundle).map((t) => t.length);
      const ours = tasks.filter((t) => t.start >= bundle).map((t) => t.length);
      const max = Math.max(0, ...ours);
      const total = ours.reduce((sum, t) => sum + Math.max(0, t - 50), 0);
      longest.push(max);
      blocking.push(total);
      before.push(Math.max(0, ...renderer));
      lines.push(
        `  run ${run}: before the bundle: ${renderer.join(", ") || "none"}; ` +
          `the bundle's: ${ours.join(", ") || "none"}; longest ${max}, blocking ${total}`,
      );
    }
    lines.push(
      `  median of ${RUNS}, the bundle's tasks: longest ${median(longest)} ms, blocking time ${median(blocking)} ms` +
        ` (the renderer's longest before the bundle: median ${median(before)} ms)`,
    );
  }
  const out = path.join(__dirname, "..", "..", "target", "long-tasks.txt");
  fs.writeFileSync(out, lines.join("\n") + "\n");
  console.log(lines.join("\n"));
});
