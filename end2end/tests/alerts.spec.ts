import { expect, test } from "@playwright/test";
import {
  localSmtp,
  PROVIDER,
  providerStats,
  resetProvider,
  seed,
  SettingsPage,
  SMTP_LOGIN,
  submitNotification,
} from "./fixtures/settings";

// The webhook's address carries the channel's secret, as Slack's and Teams' do.
const HOOK = `${PROVIDER}/hooks/T0AAAA/B0BBBB/e2e-hook-secret`;

test.beforeEach(async ({ request }) => {
  await resetProvider(request);
  await seed(request, localSmtp(SMTP_LOGIN.password));
});

test.afterEach(async ({ request }) => {
  await seed(request, localSmtp(SMTP_LOGIN.password));
});

test("alerts: the webhook is checked as typed, tested, saved write-only", async ({ page, request }) => {
  const settings = new SettingsPage(page);
  await settings.open({ edit: true });
  const card = page.locator("#alerts");
  const url = page.locator("#alerts-webhook-url");

  // On without an address, and a plain-http address elsewhere: refused as typed, with the reason.
  await page.locator("#alerts-enabled").check();
  await expect(page.locator("#alerts-webhook-url-error")).toHaveAttribute("data-code", "webhook_url_required");
  await url.fill("http://hooks.example.com/services/x");
  await expect(url).toHaveAttribute("aria-invalid", "true");
  await expect(page.locator("#alerts-webhook-url-error")).toHaveAttribute("data-code", "webhook_url_not_https");
  await expect(page.locator("#alerts-webhook-url-error")).not.toBeEmpty();

  // The test button posts to the address as typed, before it is saved.
  await url.fill(HOOK);
  await expect(url).toHaveAttribute("aria-invalid", "false");
  await card.locator("#alerts-test").click();
  await expect(page.locator("#alerts-test-result")).toHaveAttribute("data-delivered", "true");
  await expect(page.locator("#alerts-test-result")).toContainText("200");
  const stats = await providerStats(request);
  expect(stats.alerts).toHaveLength(1);
  expect(stats.alerts[0].contentType).toContain("application/json");
  expect(stats.alerts[0].body.event).toBe("test");
  expect(stats.alerts[0].body.text).toContain("Test alert");

  // Saved: the address is never shown again, only that it is set and its host.
  // Wait for the save to land (back on the view page) before reading it again: opening the edit
  // page at once would race the save under load.
  await settings.save();
  await expect(page).toHaveURL(/\/System\/MailSetting(\?|$)/);
  await settings.open({ edit: true });
  await expect(page.locator("#alerts-enabled")).toBeChecked();
  await expect(page.locator("#alerts-webhook-url-status")).toHaveClass(/is-set/);
  await expect(page.locator("#alerts-webhook-host")).toContainText("127.0.0.1");
  expect(await page.content()).not.toContain("e2e-hook-secret");

  // With nothing typed, the test goes to the saved address.
  await page.locator("#alerts-test").click();
  await expect(page.locator("#alerts-test-result")).toHaveAttribute("data-delivered", "true");
  expect((await providerStats(request)).alerts).toHaveLength(2);
});

test("alerts: a wrong password pauses sending, the webhook hears it, the view page says so", async ({
  page,
  request,
}) => {
  await seed(request, { ...localSmtp("a-wrong-password"), alerts: { enabled: true, webhook_url: HOOK } });
  const settings = new SettingsPage(page);
  await settings.open();
  await expect(page.locator("#view-alerts")).toHaveAttribute("data-enabled", "true");
  await expect(page.locator("#view-alerts")).toContainText("127.0.0.1");

  await submitNotification(request, "yamada@example.co.jp", "点検報告書 alert");
  await expect
    .poll(async () => (await providerStats(request)).alerts.map((a: any) => a.body.event), { timeout: 15_000 })
    .toContain("queue_paused");
  const alert = (await providerStats(request)).alerts.find((a: any) => a.body.event === "queue_paused");
  expect(alert.body.detail).toContain("auth_failed");
  expect(alert.body.text).toContain("Mail sending paused");

  await expect
    .poll(
      async () => {
        await page.reload();
        return page.locator("#view-last-alert").getAttribute("data-state");
      },
      { timeout: 15_000 },
    )
    .toBe("delivered");
  await expect(page.locator("#view-last-alert")).toHaveAttribute("data-event", "queue_paused");
  expect(await page.content()).not.toContain("e2e-hook-secret");
});
