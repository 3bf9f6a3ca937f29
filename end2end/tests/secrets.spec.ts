import { expect, test } from "@playwright/test";
import { seed, SettingsPage, SMTP_SETTINGS } from "./fixtures/settings";

const PASSWORD = "Very-Secret-Stored-Pa55word";

test("the stored password appears nowhere in the pages or their responses", async ({ page, request }) => {
  await seed(request, { ...SMTP_SETTINGS, smtp: { ...SMTP_SETTINGS.smtp, password: PASSWORD } });
  const bodies: string[] = [];
  page.on("response", async (r) => {
    try {
      bodies.push(await r.text());
    } catch {
      // redirects and aborted requests have no body
    }
  });
  const settings = new SettingsPage(page);
  for (const opts of [{}, { edit: true }, { edit: true, tab: "microsoft" }]) {
    await settings.open(opts);
    expect(await page.content()).not.toContain(PASSWORD);
  }
  await settings.open({ edit: true, tab: "smtp" });
  await expect(page.locator("#smtp-password-status")).toHaveText("設定済み");
  // The password box is only there when the administrator asks to replace the value.
  await expect(settings.input("smtp-password")).toHaveCount(0);
  await page.locator("#smtp-password-toggle").click();
  await expect(settings.input("smtp-password")).toHaveValue("");
  await page.waitForLoadState("networkidle");
  expect(bodies.length).toBeGreaterThan(0);
  for (const body of bodies) expect(body).not.toContain(PASSWORD);
});
