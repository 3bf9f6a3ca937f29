import { expect, test } from "@playwright/test";
import {
  BASE,
  localSmtp,
  providerStats,
  resetProvider,
  seed,
  SettingsPage,
  SMTP_LOGIN,
  SMTP_PORT,
  smtpMessages,
  smtpReset,
  submitNotification,
} from "./fixtures/settings";

// A port nothing listens on (the fake provider's control port range is above it): the main
// server "down".
const CLOSED_PORT = 9;

test.beforeEach(async ({ request }) => {
  await smtpReset(request);
  await seed(request, { ...localSmtp(SMTP_LOGIN.password), smtp: { ...localSmtp(SMTP_LOGIN.password).smtp, port: CLOSED_PORT } });
});

test.afterEach(async ({ request }) => {
  await resetProvider(request);
  await seed(request, localSmtp(SMTP_LOGIN.password));
});

test("backup connection: set on the edit page, takes over while the main server is down, the log says so", async ({
  page,
  request,
}) => {
  const settings = new SettingsPage(page);
  await settings.open({ edit: true });
  await expect(page.locator("#backup-server")).toHaveCount(0);
  await page.locator("#backup-on").check();

  // The SMTP rules, shown as typed on the backup's own fields.
  await page.locator("#backup-server").fill("127.0.0.1");
  await page.locator("#backup-port").fill("25");
  await expect(page.locator("#backup-ssl-error")).toHaveAttribute("data-code", "port_25_requires_no_ssl");
  await page.locator("#backup-ssl").uncheck();
  await expect(page.locator("#backup-ssl-error")).not.toHaveAttribute("data-code", /.+/);
  await page.locator("#backup-port").fill(String(SMTP_PORT));
  await page.locator("#backup-user").fill(SMTP_LOGIN.user);
  await settings.save();
  // Its own password is required.
  await expect(page.locator("#backup-password-error")).toHaveAttribute("data-code", "password_required");
  await page.locator("#backup-password").fill(SMTP_LOGIN.password);
  await settings.save();
  await expect(page).toHaveURL(/\/System\/MailSetting(\?|$)/);
  await settings.hydrated();
  await expect(page.locator("#view-backup")).toHaveAttribute("data-on", "true");
  await expect(page.locator("#view-backup")).toContainText(`127.0.0.1:${SMTP_PORT}`);
  await expect(page.locator("#view-backup-last-used")).toHaveAttribute("data-used", "false");
  expect(await page.content()).not.toContain(SMTP_LOGIN.password);

  // Tested before it is needed: the view page's test mail goes through the backup.
  await page.locator("#test-to").fill("ops@example.co.jp");
  await page.locator("#test-backup").check();
  await page.locator("#test-send").click();
  await expect(page.locator("#test-result")).toHaveAttribute("data-ok", "true");
  await expect.poll(async () => (await smtpMessages(request)).length).toBe(1);

  // The main server is down: the notification goes through the backup.
  await submitNotification(request, "ops@example.co.jp", "点検報告書 A");
  await expect.poll(async () => (await smtpMessages(request)).length).toBe(2);
  await expect
    .poll(async () => {
      await page.goto(`${BASE}/System/MailLog?status=sent`);
      return page.locator(".via-backup").count();
    })
    .toBe(1);
  await page.goto(`${BASE}/System/MailSetting`);
  await expect(page.locator("#view-backup-last-used")).toHaveAttribute("data-used", "true");
  await expect(page.locator("#view-backup-last-used")).toContainText("connection_refused");

  // Reopened: kept, the password "Set"; turned off, it is gone.
  await settings.open({ edit: true });
  await expect(page.locator("#backup-on")).toBeChecked();
  await expect(page.locator("#backup-port")).toHaveValue(String(SMTP_PORT));
  await expect(page.locator("#backup-password-status")).toHaveClass(/is-set/);
  await page.locator("#backup-on").uncheck();
  await settings.save();
  await expect(page).toHaveURL(/\/System\/MailSetting(\?|$)/);
  await expect(page.locator("#view-backup")).toHaveAttribute("data-on", "false");
});

test("backup connection: a Microsoft 365 mailbox with its own app delivers through Graph while the main server is down", async ({
  page,
  request,
}) => {
  const secret = "backup-app-secret-e2e";
  const client = "0b0b0b0b-1111-4222-8333-444455556666";
  // Only the backup app's secret opens the fake token endpoint.
  await resetProvider(request, { clientSecret: secret });
  const settings = new SettingsPage(page);
  await settings.open({ edit: true });
  await page.locator("#backup-on").check();
  await page.locator("#backup-kind-microsoft").check();
  await expect(page.locator("#backup-server")).toHaveCount(0);
  await expect(page.locator("#backup-ms-steps")).toContainText("Mail.Send");

  // The app-only rules, as typed, on the backup's own fields.
  await page.locator("#backup-ms-tenant-id").fill("contoso.onmicrosoft.com");
  await page.locator("#backup-ms-client-id").fill("not-a-guid");
  await expect(page.locator("#backup-ms-client-id-error")).toHaveAttribute("data-code", "microsoft_client_id_invalid");
  await page.locator("#backup-ms-client-id").fill(client);
  await expect(page.locator("#backup-ms-client-id-error")).not.toHaveAttribute("data-code", /.+/);
  await page.locator("#backup-ms-sender").fill("backup@contoso.com");
  await settings.save();
  await expect(page.locator("#backup-ms-client-secret-error")).toHaveAttribute("data-code", "client_secret_required");
  await page.locator("#backup-ms-client-secret").fill(secret);
  await settings.save();
  await expect(page).toHaveURL(/\/System\/MailSetting(\?|$)/);
  await settings.hydrated();
  await expect(page.locator("#view-backup")).toHaveAttribute("data-kind", "oauth");
  await expect(page.locator("#view-backup")).toContainText("backup@contoso.com");
  expect(await page.content()).not.toContain(secret);

  // The main server is down: the backup's app gets a token and Graph sends as its mailbox.
  await submitNotification(request, "ops@example.co.jp", "点検報告書 B");
  await expect.poll(async () => (await providerStats(request)).sends.length).toBe(1);
  const stats = await providerStats(request);
  expect(stats.sends[0].mailbox).toBe("backup@contoso.com");
  expect(stats.token[0].grant_type).toBe("client_credentials");
  expect(stats.token[0].client_id).toBe(client);
  await expect
    .poll(async () => {
      await page.goto(`${BASE}/System/MailLog?status=sent`);
      return page.locator("tr", { hasText: "点検報告書 B" }).locator(".via-backup").count();
    })
    .toBe(1);

  // Reopened: the Microsoft kind chosen, the secret only "Set".
  await settings.open({ edit: true });
  await expect(page.locator("#backup-kind-microsoft")).toBeChecked();
  await expect(page.locator("#backup-ms-sender")).toHaveValue("backup@contoso.com");
  await expect(page.locator("#backup-ms-client-secret-status")).toHaveClass(/is-set/);
  expect(await page.content()).not.toContain(secret);
});
