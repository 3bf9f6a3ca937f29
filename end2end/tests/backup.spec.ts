import { expect, test } from "@playwright/test";
import {
  BASE,
  localSmtp,
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

  // The main server is down: the notification goes through the backup.
  await submitNotification(request, "ops@example.co.jp", "点検報告書 A");
  await expect.poll(async () => (await smtpMessages(request)).length).toBe(1);
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
