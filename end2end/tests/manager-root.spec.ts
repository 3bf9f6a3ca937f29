import { expect, test } from "@playwright/test";
import fs from "node:fs";
import path from "node:path";
import { seed, SettingsPage } from "./fixtures/settings";

// The browser checks ManagerRoot with its own WHATWG `URL`, the server with the `url` crate.
// The same cases run in app/src/domain/tests.rs: both must give the same verdicts.
type Case = { root: string; microsoft?: string[]; error?: string; uri?: string };
const cases: Case[] = JSON.parse(
  fs.readFileSync(path.join(__dirname, "../../app/src/domain/manager_root_cases.json"), "utf8"),
);

test.beforeEach(async ({ request }) => {
  await seed(request);
});

test("ManagerRoot is checked as typed, with the verdicts the server gives", async ({ page }) => {
  expect(cases.length).toBeGreaterThanOrEqual(10);
  const settings = new SettingsPage(page);
  await settings.open({ edit: true, tab: "microsoft" });
  const root = settings.input("manager-root");
  const uri = page.locator("#redirect-uri-microsoft");
  const notices = page.locator('#tab-panel .redirect .notice[data-code^="redirect_"]');
  for (const c of cases) {
    await root.fill(c.root);
    await root.blur();
    if (c.error) {
      await expect(settings.error("manager-root"), c.root).toHaveAttribute("data-code", c.error);
      await expect(root, c.root).toHaveAttribute("aria-invalid", "true");
      await expect(uri, c.root).toHaveCount(0);
    } else {
      await expect(root, c.root).toHaveAttribute("aria-invalid", "false");
      await expect(uri, c.root).toHaveText(c.uri ?? `${c.root}/System/MailOAuthMicrosoft`);
      await expect
        .poll(async () => (await notices.evaluateAll((n) => n.map((e) => e.getAttribute("data-code")))).sort(), {
          message: c.root,
        })
        .toEqual([...(c.microsoft ?? [])].sort());
    }
  }
});
