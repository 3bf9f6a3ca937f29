import { expect, test } from "@playwright/test";
import * as fs from "fs";
import { seed, SettingsPage, SMTP_SETTINGS } from "./fixtures/settings";

test.beforeEach(async ({ request }) => {
  await seed(request);
});

test("the exported file has no secret; loading it back asks for the password again", async ({ page, request }) => {
  const settings = new SettingsPage(page);
  await settings.open();
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.locator("#export-link").click(),
  ]);
  expect(download.suggestedFilename()).toMatch(/^mail-settings-\d{8}\.json$/);
  const file = await download.path();
  const text = fs.readFileSync(file, "utf8");
  expect(text).not.toContain(SMTP_SETTINGS.smtp.password);
  const parsed = JSON.parse(text);
  expect(parsed.format).toBe("mail-settings-export");
  expect(parsed.settings.smtp.server).toBe("smtp.example.co.jp");
  expect(parsed.secrets_omitted).toContain("smtp.password");

  // The console changes; then the administrator loads the file back.
  // (Another server needs its own password: a stored one is only for the server it was typed for.)
  await seed(request, { ...SMTP_SETTINGS, smtp: { ...SMTP_SETTINGS.smtp, server: "changed.example.co.jp", password: "Changed-Secret-2" } });
  await settings.open({ edit: true, tab: "smtp" });
  await expect(settings.input("smtp-server")).toHaveValue("changed.example.co.jp");
  await page.locator("#import-file").setInputFiles(file);
  await expect(page.locator("#import-done")).toBeVisible();
  await expect(settings.input("smtp-server")).toHaveValue("smtp.example.co.jp");
  await expect(page.locator("#smtp-password-status")).toHaveText("未設定");

  // Nothing is saved without the password.
  await settings.save();
  await expect(settings.error("smtp-password")).toBeVisible();
  await expect(page.locator("#save-problem")).toBeVisible();
  await settings.input("smtp-password").fill("Re-entered-Secret-1");
  await settings.save();
  await expect(page).toHaveURL(/\/System\/MailSetting\?tab=smtp$/);
  await expect(page.locator("#view-smtp-server")).toHaveText("smtp.example.co.jp");
});

test("a file that is not an export is refused with what to do", async ({ page }) => {
  const settings = new SettingsPage(page);
  await settings.open({ edit: true, tab: "smtp" });
  await page.locator("#import-file").setInputFiles({
    name: "other.json",
    mimeType: "application/json",
    buffer: Buffer.from('{"auth":"smtp"}'),
  });
  await expect(page.locator("#import-problem")).toContainText("書き出しファイルではありません");
  await page.locator("#import-file").setInputFiles({
    name: "broken.json",
    mimeType: "application/json",
    buffer: Buffer.from("not json at all"),
  });
  await expect(page.locator("#import-problem")).toContainText("JSON形式ではありません");
  // The form kept what it had.
  await expect(settings.input("smtp-server")).toHaveValue("smtp.example.co.jp");
});
