import { expect, test } from "@playwright/test";
import { seed, SettingsPage } from "./fixtures/settings";

test.beforeEach(async ({ request }) => {
  await seed(request);
});

test("Japanese by default; English on request, remembered across reloads", async ({ page, context }) => {
  // Forget the remembered language, not the session.
  await context.clearCookies({ name: "i18n_pref_locale" });
  const settings = new SettingsPage(page);
  await settings.open();
  await expect(settings.heading()).toHaveText("メール基本設定");
  await expect(page.locator("html")).toHaveAttribute("lang", "ja");

  await page.getByRole("button", { name: "English" }).click();
  await expect(settings.heading()).toHaveText("Mail basic settings");
  await expect(page.locator("#edit-button")).toHaveText("Edit");

  await page.reload();
  await settings.hydrated();
  await expect(settings.heading()).toHaveText("Mail basic settings");
  await expect(page.locator("html")).toHaveAttribute("lang", "en");

  // Errors follow the language too.
  await settings.open({ edit: true, tab: "smtp" });
  await settings.input("smtp-port").fill("465");
  await expect(settings.error("smtp-port")).toContainText("Port 465 (SMTPS) is not supported");

  await page.getByRole("button", { name: "日本語" }).click();
  await expect(settings.error("smtp-port")).toContainText("ポート465");
});
