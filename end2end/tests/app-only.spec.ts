import { expect, test } from "@playwright/test";
import {
  managerRoot,
  MS_CLIENT_ID,
  MS_TENANT,
  providerStats,
  resetProvider,
  seed,
  SettingsPage,
  SMTP_SETTINGS,
} from "./fixtures/settings";

const SECRET = "e2e-client-secret-value";

test.beforeEach(async ({ request }) => {
  await resetProvider(request, { clientSecret: SECRET });
  await seed(request, {
    ...SMTP_SETTINGS,
    oauth: { provider: "google", client_id: "", client_secret: null, tenant_id: "" },
    manager_root: managerRoot(),
  });
});

test.afterEach(async ({ request }) => {
  await seed(request, {
    ...SMTP_SETTINGS,
    oauth: { provider: "google", client_id: "", client_secret: null, tenant_id: "" },
    manager_root: managerRoot(),
  });
});

test("Microsoft app-only: no consent page, the app sends as the mailbox", async ({ page, request }) => {
  const settings = new SettingsPage(page);
  await settings.open({ edit: true, tab: "microsoft" });
  await page.locator("#use-this-method").click();
  await page.locator("#ms-client-id").fill(MS_CLIENT_ID);
  await page.locator("#ms-client-secret").fill(SECRET);
  await page.locator("#ms-tenant-id").fill(MS_TENANT);

  // The mailbox shows only for app-only, with what the tenant must grant.
  await expect(page.locator("#ms-sender")).toHaveCount(0);
  await page.locator("#ms-flow-app-only").check();
  await expect(page.locator("#ms-app-only-steps")).toContainText("Mail.Send");
  await page.locator("#ms-sender").fill("notice");
  await expect(page.locator("#ms-sender")).toHaveAttribute("aria-invalid", "true");
  await expect(page.locator("#ms-sender-error")).toHaveAttribute("data-code", "mailbox_missing_at");
  await page.locator("#ms-sender").fill("notice@contoso.com");
  await expect(page.locator("#ms-sender")).toHaveAttribute("aria-invalid", "false");
  await settings.save();

  // Straight back to the settings, not to a consent page.
  await expect(page).toHaveURL(/\/System\/MailSetting\?tab=microsoft/);
  await settings.hydrated();
  await expect(page.locator("#oauth-status")).toHaveAttribute("data-state", "app_only");
  await expect(page.locator("#oauth-status")).toContainText("notice@contoso.com");
  await expect(page.locator("#oauth-connect")).toHaveCount(0);
  await expect(page.locator("#oauth-disconnect")).toHaveCount(0);

  // "Check token" asks for a client-credentials token.
  await page.locator("#oauth-check").click();
  await expect(page.locator("#oauth-banner")).toHaveAttribute("data-code", "token_ok");
  const stats = await providerStats(request);
  expect(stats.authorize).toHaveLength(0);
  expect(stats.token.map((t: any) => t.grant_type)).toEqual(["client_credentials"]);
  expect(stats.token[0].scope).toMatch(/\/\.default$/);
  const html = await page.content();
  for (const token of [...stats.issuedAccess, SECRET]) {
    expect(html).not.toContain(token);
  }

  // Reopened: the choice and the mailbox are as saved.
  await settings.open({ edit: true, tab: "microsoft" });
  await expect(page.locator("#ms-flow-app-only")).toBeChecked();
  await expect(page.locator("#ms-sender")).toHaveValue("notice@contoso.com");
});

test("send as a shared mailbox: offered for a connected account, not for app-only", async ({ page }) => {
  const settings = new SettingsPage(page);
  await settings.open({ edit: true, tab: "microsoft" });
  await page.locator("#use-this-method").click();
  await page.locator("#ms-client-id").fill(MS_CLIENT_ID);
  await page.locator("#ms-client-secret").fill(SECRET);
  await page.locator("#ms-tenant-id").fill(MS_TENANT);
  await page.locator("#ms-send-as").fill("shared");
  await expect(page.locator("#ms-send-as-error")).toHaveAttribute("data-code", "mailbox_missing_at");
  await page.locator("#ms-send-as").fill("shared@contoso.com");
  await expect(page.locator("#ms-send-as-error")).not.toHaveAttribute("data-code", /.+/);
  await page.locator("#ms-flow-app-only").check();
  await expect(page.locator("#ms-send-as")).toHaveCount(0);
  await page.locator("#ms-flow-delegated").check();
  await settings.save();
  // Saved, then off to the consent page (Mail.Send.Shared is asked for).
  await expect(page).toHaveURL(/consent|authorize/);
  await expect(page.locator("#consent-scope")).toContainText("Mail.Send.Shared");
  await settings.open({ tab: "microsoft" });
  await expect(page.locator("#view-oauth-send-as")).toHaveText("shared@contoso.com");
});
