import { expect, test } from "@playwright/test";
import { seed, SettingsPage } from "./fixtures/settings";

test.beforeEach(async ({ request }) => {
  await seed(request);
});

test("Edit → change → Save → reload shows the change", async ({ page }) => {
  const settings = new SettingsPage(page);
  await settings.open();
  await page.locator("#edit-button").click();
  await expect(page).toHaveURL(/\/System\/MailSetting\/Edit\?tab=smtp$/);
  await settings.hydrated();

  await settings.input("smtp-server").fill("mail.internal.example.co.jp");
  await settings.input("smtp-port").fill("25");
  await page.locator("#smtp-ssl").uncheck();
  await settings.input("smtp-user").fill("alerts@example.co.jp");
  // The stored password was for the old server: it must be typed again, and the form says so
  // as soon as the server changes.
  await expect(settings.error("smtp-password")).not.toBeEmpty();
  await settings.input("smtp-password").fill("Internal-Relay-Pa55");
  await expect(settings.error("smtp-password")).toBeEmpty();
  await settings.input("manager-root").fill("https://reports.example.co.jp/ConMasManager0001");
  await settings.save();

  await expect(page).toHaveURL(/\/System\/MailSetting\?tab=smtp$/);
  await expect(page.locator("#saved-banner")).toBeVisible();
  await expect(page.locator("#view-smtp-server")).toHaveText("mail.internal.example.co.jp");

  await page.reload();
  await settings.hydrated();
  await expect(page.locator("#view-smtp-server")).toHaveText("mail.internal.example.co.jp");
  await expect(page.locator("#view-smtp-port")).toHaveText("25");
  await expect(page.locator("#view-smtp-user")).toHaveText("alerts@example.co.jp");
  await expect(page.locator("#view-manager-root")).toHaveText("https://reports.example.co.jp/ConMasManager0001");
  await expect(page.locator("#view-smtp-password")).toHaveText("設定済み");
});

test("switching to OAuth with Microsoft is saved and SMTP is kept", async ({ page, request }) => {
  const settings = new SettingsPage(page);
  await settings.open({ edit: true });
  await page.locator("#auth-oauth").check();
  await page.locator("#provider-microsoft").check();
  await expect(page).toHaveURL(/\?tab=microsoft$/);
  await settings.input("ms-client-id").fill("0a1b2c3d-4e5f-6789-abcd-ef0123456789");
  await settings.input("ms-client-secret").fill("azure-secret-value");
  await settings.input("ms-tenant-id").fill("contoso.onmicrosoft.com");
  await settings.save();

  // Saved OAuth settings without a connected account go straight to the consent page.
  await expect(page.locator("#consent-title")).toContainText("microsoft");
  await settings.open({ tab: "microsoft" });
  await expect(page.locator("#view-oauth-client-id")).toHaveText("0a1b2c3d-4e5f-6789-abcd-ef0123456789");
  await expect(page.locator("#view-oauth-client-secret")).toHaveText("設定済み");

  const stored = await (await request.get("/ConMasManager/api/v1/mail-settings")).json();
  expect(stored.auth).toBe("oauth");
  expect(stored.smtp.server).toBe("smtp.example.co.jp");
  expect(stored.smtp.password_set).toBe(true);
});

test("Cancel leaves the stored settings as they were", async ({ page }) => {
  const settings = new SettingsPage(page);
  await settings.open({ edit: true });
  await settings.input("smtp-server").fill("discarded.example.co.jp");
  await page.locator("#cancel-button").click();
  await expect(page).toHaveURL(/\/System\/MailSetting\?tab=smtp$/);
  await expect(page.locator("#view-smtp-server")).toHaveText("smtp.example.co.jp");
});

test("a save based on an old version shows the conflict and how to reload", async ({ page, request }) => {
  const settings = new SettingsPage(page);
  await settings.open({ edit: true });
  // Another administrator saves first.
  await seed(request, { auth: "smtp", manager_root: "https://other.example.co.jp/ConMasManager" });
  await settings.input("manager-root").fill("https://mine.example.co.jp/ConMasManager");
  await settings.save();
  await expect(page.locator("#save-problem")).toContainText("他の管理者");
  const stored = await (await request.get("/ConMasManager/api/v1/mail-settings")).json();
  expect(stored.smtp.server).toBe("smtp.example.co.jp");
  expect(stored.manager_root).toBe("https://other.example.co.jp/ConMasManager");
});
