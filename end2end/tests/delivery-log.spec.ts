import { expect, test } from "@playwright/test";
import {
  BASE,
  localSmtp,
  seed,
  SMTP_LOGIN,
  smtpMessages,
  smtpReplies,
  smtpReset,
  submitNotification,
} from "./fixtures/settings";

test.beforeEach(async ({ request }) => {
  await smtpReset(request);
  await seed(request, localSmtp(SMTP_LOGIN.password));
});

test.afterEach(async ({ request }) => {
  await smtpReplies(request, {});
});

test("a refused notification shows its reason, and Retry sends it", async ({ page, request }) => {
  await smtpReplies(request, { RCPT: "550 5.1.1 <nobody@example.co.jp>: Recipient address rejected: User unknown" });
  const id = await submitNotification(request, "nobody@example.co.jp", "点検報告書");
  await page.goto(`${BASE}/System/MailLog?status=failed`);
  const row = page.locator(`#delivery-log tr[data-id='${id}']`);
  await expect(async () => {
    await page.reload();
    await expect(row).toHaveAttribute("data-status", "failed", { timeout: 1000 });
  }).toPass({ timeout: 15_000 });
  await expect(page.locator("body[data-hydrated='true']")).toHaveCount(1);
  await expect(row).toContainText("550 5.1.1");
  await expect(row).toContainText("サーバーがメールを拒否しました");
  await expect(page.locator("#failures-24h")).not.toHaveAttribute("data-count", "0");

  // The recipient exists now: Retry delivers it.
  await smtpReplies(request, {});
  await row.locator("button.retry").click();
  await page.goto(`${BASE}/System/MailLog`);
  await expect(async () => {
    await page.reload();
    await expect(page.locator(`#delivery-log tr[data-id='${id}']`)).toHaveAttribute("data-status", "sent", {
      timeout: 1000,
    });
  }).toPass({ timeout: 15_000 });
  const messages = await smtpMessages(request);
  expect(messages.map((m: any) => m.rcpt_tos[0])).toEqual(["nobody@example.co.jp"]);
});
