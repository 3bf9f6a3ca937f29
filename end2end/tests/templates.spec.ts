import { expect, test } from "@playwright/test";
import { BASE, localSmtp, seed, SMTP_LOGIN, smtpMessages, smtpReset } from "./fixtures/settings";

test("a template is checked as typed, previewed, saved, and used by a notification", async ({ page, request }) => {
  await smtpReset(request);
  await seed(request, localSmtp(SMTP_LOGIN.password));
  await page.goto(`${BASE}/System/MailTemplates`);
  await expect(page.locator("body[data-hydrated='true']")).toHaveCount(1);
  await expect(page.locator("#tpl-codes tr[data-code='rep_url']")).toContainText("{rep_url}");

  await page.locator("#tpl-new").click();
  const id = `submitted_${Date.now()}`;
  await page.locator("#tpl-id").fill(id);
  await page.locator("#tpl-name").fill("提出の通知");
  await page.locator("#tpl-subject").fill("[{rep_name}] が提出されました");
  await page.locator("#tpl-body").fill("{user_name} さんが {rep_nam} を提出しました。\n{rep_url}");
  // The unknown code is named at once, and saving is refused.
  const error = page.locator("#tpl-errors li[data-kind='UnknownCode']");
  await expect(error).toHaveAttribute("data-text", "rep_nam");
  await page.locator("#tpl-save").click();
  await expect(page.locator("#tpl-problem")).toBeVisible();

  await page.locator("#tpl-body").fill("{user_name} さんが {rep_name} を提出しました。\n{rep_url}");
  await expect(page.locator("#tpl-errors")).toHaveCount(0);
  await expect(page.locator("#tpl-preview-subject")).toHaveText("[設備点検報告書] が提出されました");
  await expect(page.locator("#tpl-preview-body")).toContainText("山田 太郎 さんが 設備点検報告書 を提出しました。");
  await page.locator("#tpl-save").click();
  await expect(page.locator("#tpl-saved")).toBeVisible();
  await expect(page.locator(`#tpl-list li[data-id='${id}']`)).toBeVisible();

  // A script sends with it.
  const res = await request.post(`${BASE}/api/v1/notifications`, {
    data: { template: id, to: ["ops@example.co.jp"], data: { rep_name: "日報", user_name: "佐藤", rep_path: "/Report/9" } },
    headers: { "content-type": "application/json", authorization: `Bearer ${process.env.E2E_API_TOKEN}` },
  });
  expect(res.status(), await res.text()).toBe(202);
  await expect(async () => {
    const messages = await smtpMessages(request);
    expect(messages).toHaveLength(1);
    expect(messages[0].data).toContain("=?utf-8?");
  }).toPass({ timeout: 15_000 });
});
