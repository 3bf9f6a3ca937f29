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

test("the log is searched by recipient, and the export downloads what the filter shows", async ({ page, request }) => {
  const tag = `srch${Date.now()}`;
  const id = await submitNotification(request, `${tag}@example.co.jp`, "点検報告書 検索");
  await submitNotification(request, `other${Date.now()}@example.co.jp`, "日報");
  await page.goto(`${BASE}/System/MailLog`);
  await expect(page.locator("body[data-hydrated='true']")).toHaveCount(1);

  // Typed in upper case: the search ignores case, and the URL keeps it (Back, sharing).
  await page.locator("#log-search").fill(tag.toUpperCase());
  await page.locator("#log-search-button").click();
  await expect(page).toHaveURL(new RegExp(`[?&]q=${tag.toUpperCase()}`));
  await expect(page.locator("#delivery-log tbody tr")).toHaveCount(1);
  await expect(page.locator(`#delivery-log tr[data-id='${id}']`)).toContainText(`${tag}@example.co.jp`);
  await expect(page.locator("#log-search")).toHaveValue(tag.toUpperCase());

  // A wildcard is taken literally: nothing has a % in it.
  await page.goto(`${BASE}/System/MailLog?q=%25`);
  await expect(page.locator("#delivery-log tbody tr")).toHaveCount(0);

  // The export links carry the search; the CSV is the one row, with a byte-order mark for Excel.
  await page.goto(`${BASE}/System/MailLog?q=${tag}`);
  await expect(page.locator("body[data-hydrated='true']")).toHaveCount(1);
  const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#log-export-csv").click()]);
  expect(download.suggestedFilename()).toMatch(/^mail-log-\d{8}T\d{4}\.csv$/);
  const fs = await import("node:fs/promises");
  const bytes = await fs.readFile(await download.path());
  expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
  const lines = bytes.subarray(3).toString("utf8").trim().split(/\r?\n/);
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatch(/^id,created_at,status,/);
  expect(lines[1]).toContain(`${tag}@example.co.jp`);
  expect(lines[1]).toContain("[点検報告書 検索] が提出されました");
  await expect(page.locator("#log-export-json")).toHaveAttribute("href", `${BASE}/api/v1/notifications/export?format=json&q=${tag}`);
});
