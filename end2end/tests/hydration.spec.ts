import { expect, test, type Page } from "@playwright/test";
import { BASE, seed, SettingsPage } from "./fixtures/settings";

test.beforeEach(async ({ request }) => {
  await seed(request);
});

/** Every page error and console error of the page, from now on. */
function errorsOf(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  return errors;
}

// The pages are rendered by the server; only their interactive parts (islands) hydrate, each in
// a task of its own, the edit form from a chunk of its own. Each must work on the page as
// loaded, without a page or console error.
test("every island works on the page as loaded", async ({ page }) => {
  const errors = errorsOf(page);
  const settings = new SettingsPage(page);
  await settings.open();
  // Marked hydrated only once the last island is: its buttons work right away.
  await settings.switchTab("microsoft");
  await settings.expectTab("microsoft");
  await expect(page.locator("#view-oauth-client-id")).toBeVisible();
  // The audit log, the last card, is there and filled in.
  await expect(page.locator("#audit-title")).toBeVisible();

  // To the form: its island comes with its own chunk.
  await page.locator("#edit-button").click();
  await expect(page).toHaveURL(new RegExp(`${BASE}/System/MailSetting/Edit`));
  await settings.hydrated();
  await expect(page.locator("#save-button")).toBeVisible();
  const divert = page.locator("#divert-to");
  await divert.fill("qa.example.co.jp");
  await expect(page.locator("#divert-to-error")).toHaveAttribute("data-code", "mailbox_missing_at");

  // The form loaded on its own: its last cards (delivery, backup, alerts) hydrate after the
  // page's first task and check what is typed into them.
  await settings.open({ edit: true, tab: "smtp" });
  await divert.fill("qa.example.co.jp");
  await expect(page.locator("#divert-to-error")).toHaveAttribute("data-code", "mailbox_missing_at");
  await page.locator("#backup-on").check();
  await expect(page.locator("#backup-kind-smtp")).toBeVisible();
  // The first card too: the method choice moves the form to the OAuth fields.
  await page.locator("#auth-oauth").check();
  await expect(page.locator("#provider-microsoft")).toBeVisible();

  expect(errors).toEqual([]);
});

test("the window title follows the language", async ({ page, context }) => {
  await context.clearCookies({ name: "i18n_pref_locale" });
  const settings = new SettingsPage(page);
  await settings.open();
  await expect(page).toHaveTitle("メール基本設定 | メール通知設定");
  await settings.chooseLanguage("English");
  await expect(page).toHaveTitle("Mail basic settings | Mail notification settings");
  await page.reload();
  await settings.hydrated();
  await expect(page).toHaveTitle("Mail basic settings | Mail notification settings");
  await settings.chooseLanguage("日本語");
  await expect(page).toHaveTitle("メール基本設定 | メール通知設定");
});
