import { test } from "@playwright/test";
import * as fs from "fs";
import * as path from "path";

/** First load of each console page, signed in, empty cache, in Chromium: every response until
 * the network is idle, counted as it came over the wire (headers + encoded body). Writes
 * target/first-load.txt. A report for `make bench-size`; it asserts only that it measured. */
const PAGES: [string, string][] = [
  ["view", "/ConMasManager/System/MailSetting"],
  ["edit", "/ConMasManager/System/MailSetting/Edit?tab=smtp"],
  ["templates", "/ConMasManager/System/MailTemplates"],
  ["log", "/ConMasManager/System/MailLog"],
];

test("first load per page", async ({ browser }) => {
  const lines: string[] = [];
  for (const [name, url] of PAGES) {
    // A new context: nothing cached, the session of global-setup.
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen: Promise<[string, number, string]>[] = [];
    page.on("requestfinished", (request) => {
      seen.push(
        (async () => {
          const sizes = await request.sizes();
          const response = await request.response();
          const encoding = (await response?.headerValue("content-encoding")) ?? "identity";
          const file = new URL(request.url()).pathname.split("/").pop() || "/";
          return [file, sizes.responseHeadersSize + sizes.responseBodySize, encoding];
        })(),
      );
    });
    await page.goto(url, { waitUntil: "networkidle" });
    await page.locator("body[data-hydrated='true']").waitFor();
    await page.waitForLoadState("networkidle");
    const rows = await Promise.all(seen);
    if (rows.length === 0) throw new Error(`nothing measured for ${name}`);
    const total = rows.reduce((sum, [, bytes]) => sum + bytes, 0);
    lines.push(`${name.padEnd(10)} ${String(total).padStart(9)} B on the wire, ${rows.length} requests`);
    for (const [file, bytes, encoding] of rows) {
      lines.push(`    ${file.padEnd(40)} ${String(bytes).padStart(9)} ${encoding}`);
    }
    await context.close();
  }
  const out = path.join(__dirname, "..", "..", "target", "first-load.txt");
  fs.writeFileSync(out, lines.join("\n") + "\n");
  console.log(lines.join("\n"));
});
