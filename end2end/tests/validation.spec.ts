import { expect, test } from "@playwright/test";
import { seed, SettingsPage } from "./fixtures/settings";

test.beforeEach(async ({ request }) => {
  await seed(request);
});

test("port 465 shows its error while typing, before any save", async ({ page }) => {
  const settings = new SettingsPage(page);
  await settings.open({ edit: true, tab: "smtp" });
  let saves = 0;
  page.on("request", (r) => {
    if (r.url().includes("/api/mail_settings/save")) saves++;
  });

  await settings.input("smtp-port").fill("465");
  await expect(settings.error("smtp-port")).toContainText("465");
  await expect(settings.error("smtp-port")).toContainText("587");
  await expect(settings.input("smtp-port")).toHaveAttribute("aria-invalid", "true");

  // Save is refused in the browser: the banner explains, focus goes to the field.
  await settings.save();
  await expect(page.locator("#save-problem")).toBeVisible();
  await expect(settings.input("smtp-port")).toBeFocused();
  expect(saves).toBe(0);

  await settings.input("smtp-port").fill("587");
  await expect(settings.error("smtp-port")).toBeEmpty();
});

test("an invalid sender address is explained, and port/SSL mismatch offers its fix", async ({ page }) => {
  const settings = new SettingsPage(page);
  await settings.open({ edit: true, tab: "smtp" });
  await settings.input("smtp-user").fill("first..last@example.co.jp");
  await settings.input("smtp-user").blur();
  await expect(settings.error("smtp-user")).toContainText("RFC 5321");

  await page.locator("#smtp-ssl").uncheck();
  await expect(settings.error("smtp-ssl")).toContainText("587");
  await page.locator("#fix-ssl").click();
  await expect(page.locator("#smtp-ssl")).toBeChecked();
  await expect(settings.error("smtp-ssl")).toBeEmpty();
  await expect(page.locator("#smtp-ssl-plain-note")).toHaveCount(0);
});

test("a Microsoft SMTP host gets the advice to switch to OAuth", async ({ page }) => {
  const settings = new SettingsPage(page);
  await settings.open({ edit: true, tab: "smtp" });
  await settings.input("smtp-server").fill("smtp.office365.com");
  await expect(page.locator('.notice[data-code="smtp_auth_deprecated_microsoft"]')).toContainText("OAuth");
});

test("errors of the selected OAuth provider stay on its own tab", async ({ page }) => {
  const settings = new SettingsPage(page);
  await settings.open({ edit: true, tab: "smtp" });
  await page.locator("#auth-oauth").check();
  await page.locator("#provider-google").check();
  await settings.input("google-client-id").fill("0a1b2c3d-4e5f-6789-abcd-ef0123456789");
  await expect(settings.error("google-client-id")).toContainText("apps.googleusercontent.com");

  // The Microsoft tab edits its own draft: Google's error is not shown there.
  await settings.switchTab("microsoft");
  await expect(settings.input("ms-client-id")).toBeVisible();
  await expect(settings.error("ms-client-id")).toBeEmpty();
  await settings.switchTab("google");
  await expect(settings.input("google-client-id")).toHaveValue("0a1b2c3d-4e5f-6789-abcd-ef0123456789");
  await expect(settings.error("google-client-id")).toContainText("apps.googleusercontent.com");
});

test("every port/SSL rule shows as the port is typed, with its one-click fix", async ({ page }) => {
  const settings = new SettingsPage(page);
  await settings.open({ edit: true, tab: "smtp" });
  // Seeded: 587 with SSL on. Typing 25 (SSL still on) is wrong at once, not only at Save.
  await expect(page.locator("#smtp-ssl")).toBeChecked();
  await settings.input("smtp-port").fill("25");
  await expect(settings.error("smtp-ssl")).toContainText("25");
  await page.locator("#fix-ssl").click();
  await expect(page.locator("#smtp-ssl")).not.toBeChecked();
  await expect(settings.error("smtp-ssl")).toBeEmpty();
  // SSL off: the page says when the password would travel unencrypted.
  await expect(page.locator("#smtp-ssl-plain-note")).toBeVisible();
  await expect(page.locator("#smtp-ssl-plain-note")).toContainText("STARTTLS");

  // And back: 587 with SSL off shows its rule as typed too.
  await settings.input("smtp-port").fill("587");
  await expect(settings.error("smtp-ssl")).toContainText("587");
  await page.locator("#fix-ssl").click();
  await expect(page.locator("#smtp-ssl")).toBeChecked();
  await expect(settings.error("smtp-ssl")).toBeEmpty();
});
