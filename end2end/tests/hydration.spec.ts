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

// The settings page and its form hydrate card by card, each card in a task of its own
// (app/src/ui/yielding.rs). Each card must then work as if the page had hydrated in one go, on a
// freshly loaded page (hydrated) as after client-side navigation (built in the browser).
test("every card works, on the page as loaded and as navigated to", async ({ page }) => {
  const errors = errorsOf(page);
  const settings = new SettingsPage(page);
  await settings.open();
  // Marked hydrated only once the last card is: a card's links and buttons work right away.
  await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));
  await settings.tab("microsoft").click();
  await settings.expectTab("microsoft");
  await expect(page.locator("#view-oauth-client-id")).toBeVisible();
  // The audit log, the last card, is there and filled in.
  await expect(page.locator("#audit-title")).toBeVisible();

  // To the form without a reload: the router builds it in the browser.
  await page.locator("#edit-button").click();
  await expect(page).toHaveURL(new RegExp(`${BASE}/System/MailSetting/Edit`));
  await expect(page.locator("#save-button")).toBeVisible();
  expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
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

test("the window title follows the language without a reload", async ({ page, context }) => {
  await context.clearCookies({ name: "i18n_pref_locale" });
  const settings = new SettingsPage(page);
  await settings.open();
  await expect(page).toHaveTitle("メール基本設定 | メール通知設定");
  await page.getByRole("button", { name: "English" }).click();
  await expect(page).toHaveTitle("Mail basic settings | Mail notification settings");
  await page.reload();
  await settings.hydrated();
  await expect(page).toHaveTitle("Mail basic settings | Mail notification settings");
  await page.getByRole("button", { name: "日本語" }).click();
  await expect(page).toHaveTitle("メール基本設定 | メール通知設定");
});
