import { expect, test } from "@playwright/test";
import { BASE, localSmtp, seed, SMTP_LOGIN, smtpReset } from "./fixtures/settings";

// The notification this spec submits goes to the local SMTP server, not on retrying elsewhere.
test.beforeEach(async ({ request }) => {
  await smtpReset(request);
  await seed(request, localSmtp(SMTP_LOGIN.password));
});

test("API tokens: created with the least scope, shown once with a copy button, usable, then revoked", async ({
  page,
  request,
  context,
}) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await page.goto(`${BASE}/System/MailSetting`);
  await page.locator("#tokens-link").click();
  await expect(page).toHaveURL(`${BASE}/System/MailApiTokens`);
  await expect(page.locator("body[data-hydrated='true']")).toHaveCount(1);

  // Refused in the browser with what to do: no name, an expiry out of range.
  await page.locator("#token-create").click();
  await expect(page.locator("#token-error")).toHaveAttribute("data-code", "token_name_required");
  await expect(page.locator("#token-error")).not.toBeEmpty();
  const name = `帳票システム ${Date.now()}`;
  await page.locator("#token-name").fill(name);
  await page.locator("#token-expires").fill("4000");
  await page.locator("#token-create").click();
  await expect(page.locator("#token-error")).toHaveAttribute("data-code", "token_expiry_out_of_range");
  await page.locator("#token-expires").fill("30");
  // notify is preselected: the least privilege.
  await expect(page.locator("#token-scope")).toHaveValue("notify");
  await page.locator("#token-create").click();

  const created = page.locator("#token-created");
  await expect(created).toBeVisible();
  const token = (await page.locator("#token-value").textContent())!;
  const id = (await created.getAttribute("data-id"))!;
  expect(token).toMatch(new RegExp(`^mst_${id}_`));
  await page.locator("#token-copy").click();
  await expect(page.locator("#token-copy")).toHaveText(/コピーしました|Copied/);
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(token);
  const row = page.locator(`#token-list tr[data-id='${id}']`);
  await expect(row).toContainText(name);
  await expect(row).toContainText("notify");

  // It submits notifications.
  const submit = () =>
    request.post(`${BASE}/api/v1/notifications`, {
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      data: { subject: "s", body: "b", to: ["tokens@example.co.jp"] },
    });
  expect((await submit()).status()).toBe(202);

  // Shown once: after a reload only the row is there, never the value.
  await page.reload();
  await expect(page.locator("body[data-hydrated='true']")).toHaveCount(1);
  await expect(page.locator("#token-created")).toHaveCount(0);
  expect(await page.content()).not.toContain(token);

  // Revoked after confirming: refused from now on.
  page.once("dialog", (d) => d.accept());
  await row.locator("button.revoke").click();
  await expect(row).toHaveAttribute("data-revoked", "true");
  expect((await submit()).status()).toBe(401);
});
