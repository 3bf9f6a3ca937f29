import { expect, test } from "@playwright/test";
import { seed, SettingsPage } from "./fixtures/settings";

test.beforeEach(async ({ request }) => {
  await seed(request);
});

test("each tab of the settings page has its address, and Back/Forward work", async ({ page }) => {
  const settings = new SettingsPage(page);
  await settings.open({ tab: "smtp" });

  await settings.switchTab("google");
  await expect(page).toHaveURL(/\/System\/MailSetting\?tab=google$/);
  await settings.expectTab("google");

  await settings.switchTab("microsoft");
  await expect(page).toHaveURL(/\?tab=microsoft$/);
  await settings.expectTab("microsoft");

  await page.goBack();
  await expect(page).toHaveURL(/\?tab=google$/);
  await settings.expectTab("google");

  await page.goBack();
  await expect(page).toHaveURL(/\?tab=smtp$/);
  await settings.expectTab("smtp");

  await page.goForward();
  await settings.expectTab("google");
});

test("the form switches tabs in place: what was typed stays, the address follows", async ({ page }) => {
  const settings = new SettingsPage(page);
  await settings.open({ edit: true, tab: "smtp" });
  // A marker that a full reload would wipe out.
  await page.evaluate(() => ((window as any).__noReload = true));
  await settings.input("smtp-server").fill("typed.example.co.jp");

  await settings.switchTab("google");
  await expect(page).toHaveURL(/\/System\/MailSetting\/Edit\?tab=google$/);
  await settings.expectTab("google");
  await settings.switchTab("smtp");
  await expect(page).toHaveURL(/\?tab=smtp$/);
  await settings.expectTab("smtp");
  await expect(settings.input("smtp-server")).toHaveValue("typed.example.co.jp");
  expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);
});

test("each OAuth tab shows the redirect URI to register and the setup steps", async ({ page, context }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  const settings = new SettingsPage(page);
  await settings.open({ tab: "microsoft" });
  // ManagerRoot is http://{0}/ConMasManager and the server's address is 192.168.10.20.
  await expect(page.locator("#redirect-uri-microsoft")).toHaveText(
    "http://192.168.10.20/ConMasManager/System/MailOAuthMicrosoft",
  );
  await expect(page.locator(".steps")).toContainText("Mail.Send");
  await page.locator(".redirect .copy-row button").click();
  await expect(page.locator(".redirect .copy-row button")).toHaveText("コピーしました");
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(
    "http://192.168.10.20/ConMasManager/System/MailOAuthMicrosoft",
  );
  // http on an address other than localhost, and a private address: both are warned about.
  await expect(page.locator('.notice[data-code="redirect_https_required"]')).toBeVisible();
  await expect(page.locator('.notice[data-code="redirect_private_address"]')).toBeVisible();

  await settings.switchTab("google");
  await expect(page.locator("#redirect-uri-google")).toHaveText(
    "http://192.168.10.20/ConMasManager/System/MailOAuthGoogle",
  );
  await expect(page.locator('.notice[data-code="redirect_ip_not_allowed"]')).toBeVisible();
  await expect(page.locator("#manager-root-preview")).toHaveText("http://192.168.10.20/ConMasManager");
});
