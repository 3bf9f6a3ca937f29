import { expect, test } from "@playwright/test";
import {
  BASE,
  localSmtp,
  seed,
  SettingsPage,
  SMTP_LOGIN,
  smtpMessages,
  smtpReset,
  submitNotification,
} from "./fixtures/settings";

test.beforeEach(async ({ request }) => {
  await smtpReset(request);
  await seed(request, localSmtp(SMTP_LOGIN.password));
});

// Other specs expect mail to go to its recipients at once.
test.afterEach(async ({ request }) => {
  await seed(request, localSmtp(SMTP_LOGIN.password));
});

test("divert and pause: set on the edit page, shown on every page, held mail goes to the one address", async ({
  page,
  request,
}) => {
  const settings = new SettingsPage(page);
  await settings.open({ edit: true });
  const divert = page.locator("#divert-to");

  // A list or a name is refused as typed, with the reason.
  await divert.fill("qa.example.co.jp");
  await expect(divert).toHaveAttribute("aria-invalid", "true");
  await expect(page.locator("#divert-to-error")).toHaveAttribute("data-code", "mailbox_missing_at");
  await expect(page.locator("#divert-to-error")).not.toBeEmpty();
  await divert.fill("qa@example.co.jp");
  await expect(divert).toHaveAttribute("aria-invalid", "false");
  await page.locator("#delivery-paused").check();
  await settings.save();

  // Back on the view page: the banner says both, and links to the switches.
  await expect(page).toHaveURL(new RegExp(`${BASE}/System/MailSetting(\\?|$)`));
  await expect(page.locator("#divert-banner")).toContainText("qa@example.co.jp");
  await expect(page.locator("#paused-banner")).toBeVisible();
  await expect(page.locator("#delivery-banner a")).toHaveAttribute("href", `${BASE}/System/MailSetting/Edit#delivery-options`);

  // Accepted while paused, not sent.
  const id = await submitNotification(request, "yamada@example.co.jp", "点検報告書 divert");
  for (const path of ["/System/MailLog", "/System/MailTemplates"]) {
    await page.goto(`${BASE}${path}`);
    await expect(page.locator("#divert-banner"), path).toContainText("qa@example.co.jp");
    await expect(page.locator("#paused-banner"), path).toBeVisible();
  }
  await page.waitForTimeout(1000);
  expect(await smtpMessages(request)).toHaveLength(0);

  // Resume on the edit page (divert stays): the held notification goes to the one address.
  await settings.open({ edit: true });
  await expect(page.locator("#divert-to")).toHaveValue("qa@example.co.jp");
  await expect(page.locator("#delivery-paused")).toBeChecked();
  await page.locator("#delivery-paused").uncheck();
  await settings.save();
  await expect(page.locator("#paused-banner")).toHaveCount(0);
  await expect(page.locator("#divert-banner")).toBeVisible();
  await expect(async () => {
    expect(await smtpMessages(request)).toHaveLength(1);
  }).toPass({ timeout: 15_000 });
  const [message] = await smtpMessages(request);
  expect(message.rcpt_tos).toEqual(["qa@example.co.jp"]);
  expect(message.data).toMatch(/^X-Original-To: yamada@example\.co\.jp\r?$/m);

  // The delivery log names where it went instead.
  await expect(async () => {
    await page.goto(`${BASE}/System/MailLog`);
    await expect(page.locator(`tr[data-id='${id}']`)).toHaveAttribute("data-status", "sent", { timeout: 1000 });
  }).toPass({ timeout: 15_000 });
  await expect(page.locator(`tr[data-id='${id}'] .diverted-to`)).toContainText("qa@example.co.jp");

  // Divert off: no banner on any page.
  await settings.open({ edit: true });
  await page.locator("#divert-to").fill("");
  await settings.save();
  await expect(page.locator("#delivery-banner")).toHaveCount(0);
});
