import { expect, test } from "@playwright/test";
import {
  apiAuth,
  BASE,
  localSmtp,
  seed,
  SMTP_LOGIN,
  smtpMessages,
  smtpReset,
  submitNotification,
} from "./fixtures/settings";

const LIMITS_API = `${BASE}/api/v1/sending-limits`;

test.beforeEach(async ({ request }) => {
  await smtpReset(request);
  await seed(request, localSmtp(SMTP_LOGIN.password));
});

// Other specs send through the same connection: back to the automatic limits.
test.afterEach(async ({ request }) => {
  const res = await request.put(LIMITS_API, {
    headers: { "content-type": "application/json", ...apiAuth() },
    data: { preset: "automatic" },
  });
  expect(res.status()).toBe(200);
});

test("the settings page shows the limits in use and saves custom ones", async ({ page, request }) => {
  await page.goto(`${BASE}/System/MailSetting`);
  await expect(page.locator("body[data-hydrated='true']")).toHaveCount(1);
  const panel = page.locator("#sending-limits");
  await expect(panel.locator("#limits-connection")).toHaveText("127.0.0.1");
  // An SMTP server of no known service: no limit until one is set.
  await expect(panel.locator("#limits-applied")).toHaveAttribute("data-preset", "unlimited");

  await panel.locator("#limits-edit summary").click();
  await panel.locator("#limits-preset").selectOption("custom");
  // Custom with no number: refused in the browser, with what to do.
  await panel.locator("#limits-save").click();
  await expect(panel.locator("#limits-error")).toHaveAttribute("data-code", "custom_without_limit");
  await panel.locator("#limits-per-minute").fill("0");
  await panel.locator("#limits-save").click();
  await expect(panel.locator("#limits-error")).toHaveAttribute("data-code", "limit_out_of_range");
  await expect(panel.locator("#limits-error")).toContainText("1 から 10,000,000");

  // Earlier specs sent through this connection today: two more may go. (The day's count, not
  // the minute's: earlier sends leave the one-minute window while this test runs, which let
  // more than two go.)
  const used = Number(await panel.locator("#limits-day").getAttribute("data-used"));
  const limit = String(used + 2);
  await panel.locator("#limits-per-minute").fill("");
  await panel.locator("#limits-per-day").fill(limit);
  await panel.locator("#limits-save").click();
  await expect(panel.locator("#limits-saved")).toBeVisible();
  await expect(panel.locator("#limits-applied")).toHaveAttribute("data-preset", "custom");
  await expect(panel.locator("#limits-day")).toHaveAttribute("data-limit", limit);

  // Four notifications: two go within the minute, two wait, and the meter says so.
  for (const n of [1, 2, 3, 4]) {
    await submitNotification(request, `limit${n}@example.co.jp`, `点検報告書 ${n}`);
  }
  await expect(async () => {
    await page.reload();
    await expect(page.locator("#limits-waiting")).toHaveAttribute("data-count", "2", { timeout: 1000 });
  }).toPass({ timeout: 15_000 });
  await expect(page.locator("#limits-day")).toHaveAttribute("data-used", limit);
  await expect(page.locator("#limits-day meter")).toHaveAttribute("max", limit);
  expect((await smtpMessages(request)).length).toBe(2);

  // The delivery log names the status and when they may go.
  await page.goto(`${BASE}/System/MailLog?status=waiting`);
  await expect(page.locator("#delivery-log tr[data-status='waiting']")).toHaveCount(2);
  await expect(page.locator("#delivery-log tr[data-status='waiting']").first()).toContainText("送信上限の待機中");

  // Raising the limit lets them go at once.
  const res = await request.put(LIMITS_API, {
    headers: { "content-type": "application/json", ...apiAuth() },
    data: { preset: "custom", per_day: 100000 },
  });
  expect(res.status()).toBe(200);
  await expect(async () => {
    expect((await smtpMessages(request)).length).toBe(4);
  }).toPass({ timeout: 15_000 });
});
