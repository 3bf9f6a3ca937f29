import { expect, test } from "@playwright/test";
import { localSmtp, seed, SettingsPage, SMTP_LOGIN, smtpMessages, smtpReset } from "./fixtures/settings";

test.beforeEach(async ({ request }) => {
  await smtpReset(request);
});

test("a test mail goes through a real SMTP server and every step is shown", async ({ page, request }) => {
  await seed(request, localSmtp(SMTP_LOGIN.password));
  const settings = new SettingsPage(page);
  await settings.open();
  await page.locator("#test-to").fill("ops@example.co.jp");
  await page.locator("#test-send").click();
  await expect(page.locator("#test-result")).toHaveAttribute("data-ok", "true");
  for (const step of ["resolve", "connect", "auth", "envelope", "data"]) {
    await expect(page.locator(`#test-result li[data-step='${step}']`)).toHaveAttribute("data-status", "ok");
  }
  await expect(page.locator("#test-result li[data-step='starttls']")).toHaveAttribute("data-status", "skipped");
  await expect(page.locator("#test-result li[data-step='data']")).toContainText("250");
  const messages = await smtpMessages(request);
  expect(messages).toHaveLength(1);
  expect(messages[0].rcpt_tos).toEqual(["ops@example.co.jp"]);
  expect(messages[0].auth_user).toBe(SMTP_LOGIN.user);
  // The password never reaches the page.
  expect(await page.content()).not.toContain(SMTP_LOGIN.password);
});

test("a failing step is named, with the server's reply and the fix", async ({ page, request }) => {
  await seed(request, localSmtp("a-wrong-password"));
  const settings = new SettingsPage(page);
  await settings.open();
  await page.locator("#test-send").click();
  await expect(page.locator("#test-result")).toHaveAttribute("data-ok", "false");
  await expect(page.locator("#test-result li[data-step='auth']")).toHaveAttribute("data-status", "failed");
  await expect(page.locator("#test-result li[data-step='envelope']")).toHaveCount(0);
  const failure = page.locator("#test-failure");
  await expect(failure).toHaveAttribute("data-code", "auth_failed");
  await expect(failure).toContainText("535 5.7.8");
  await expect(failure).toContainText("アプリ パスワード");
  expect(await smtpMessages(request)).toHaveLength(0);
});

test("the settings being edited are tested before they are saved", async ({ page, request }) => {
  const saved = await seed(request, localSmtp("a-wrong-password"));
  const settings = new SettingsPage(page);
  await settings.open({ edit: true, tab: "smtp" });
  await page.locator("#smtp-password-toggle").click();
  await page.locator("#smtp-password").fill(SMTP_LOGIN.password);
  await page.locator("#test-send").click();
  await expect(page.locator("#test-result")).toHaveAttribute("data-ok", "true");
  expect(await smtpMessages(request)).toHaveLength(1);
  // Nothing was saved by the test.
  const now = await (await request.get("/ConMasManager/api/v1/mail-settings", {
    headers: { authorization: `Bearer ${process.env.E2E_API_TOKEN}` },
  })).json();
  expect(now.version).toBe(saved.version);
});
