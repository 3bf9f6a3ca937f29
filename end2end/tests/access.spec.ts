import { Browser, expect, Page, test } from "@playwright/test";
import { ADMIN, adminPassword, BASE, seed, SettingsPage } from "./fixtures/settings";

/** A browser context with no session at all. */
async function freshPage(browser: Browser): Promise<Page> {
  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  return context.newPage();
}

async function signIn(page: Page, password = adminPassword()) {
  await page.locator("#login-username").fill(ADMIN);
  await page.locator("#login-password").fill(password);
  await page.locator("#login-button").click();
}

test.beforeEach(async ({ request }) => {
  await seed(request);
});

test("a deep link asks for sign-in, then opens what was asked for", async ({ browser }) => {
  const page = await freshPage(browser);
  await page.goto(`${BASE}/System/MailSetting/Edit?tab=google`);
  await expect(page).toHaveURL(/\/System\/Login\?next=/);
  await expect(page.locator("h1")).toHaveText("サインイン");
  // Nothing of the settings is on the sign-in page.
  await expect(page.locator("body")).not.toContainText("smtp.example.co.jp");
  await signIn(page);
  await expect(page).toHaveURL(new RegExp(`${BASE}/System/MailSetting/Edit\\?tab=google$`));
  const settings = new SettingsPage(page);
  await settings.hydrated();
  await settings.expectTab("google");
  await expect(page.locator("#viewer")).toHaveText(ADMIN);
  await page.context().close();
});

test("a wrong password gets one plain message; sign-out ends the session", async ({ browser }) => {
  const page = await freshPage(browser);
  await page.goto(`${BASE}/System/Login`);
  await signIn(page, "not the password");
  await expect(page.locator("#login-message")).toHaveAttribute("data-code", "invalid");
  await expect(page.locator("#login-message")).toHaveAttribute("role", "alert");
  await expect(page.locator("#login-message")).toContainText("ユーザー名またはパスワードが正しくありません");
  // The password field is empty again; the user name is not revealed as right or wrong.
  await expect(page.locator("#login-password")).toHaveValue("");

  await signIn(page);
  await expect(page).toHaveURL(new RegExp(`${BASE}/System/MailSetting$`));
  await new SettingsPage(page).hydrated();
  await page.locator("#logout-button").click();
  await expect(page).toHaveURL(/\/System\/Login\?error=logged_out/);
  await expect(page.locator("#login-message")).toHaveAttribute("role", "status");
  // The old session is gone: the settings page asks for sign-in again.
  await page.goto(`${BASE}/System/MailSetting`);
  await expect(page).toHaveURL(/\/System\/Login\?next=/);
  await page.context().close();
});

test("when another session saved first, the page says so and reloads the latest", async ({ page, browser }) => {
  const mine = new SettingsPage(page);
  await mine.open({ edit: true, tab: "smtp" });

  // A second administrator session, in another browser, saves first.
  const other = await freshPage(browser);
  await other.goto(`${BASE}/System/MailSetting/Edit?tab=smtp`);
  await signIn(other);
  const theirs = new SettingsPage(other);
  await theirs.hydrated();
  await theirs.input("manager-root").fill("https://theirs.example.co.jp/ConMasManager");
  await theirs.save();
  await expect(other).toHaveURL(new RegExp(`${BASE}/System/MailSetting\\?tab=smtp$`));
  await other.context().close();

  await mine.input("manager-root").fill("https://mine.example.co.jp/ConMasManager");
  await mine.save();
  const problem = page.locator("#save-problem");
  await expect(problem).toContainText("他の管理者");
  await problem.getByRole("button").or(problem.getByRole("link")).first().click();
  await expect(mine.input("manager-root")).toHaveValue("https://theirs.example.co.jp/ConMasManager");
});

test("the audit log on the page says who saved which fields, never a secret", async ({ page }) => {
  const settings = new SettingsPage(page);
  await settings.open({ edit: true, tab: "smtp" });
  await settings.input("manager-root").fill("https://audit.example.co.jp/ConMasManager");
  await settings.save();
  await expect(page).toHaveURL(new RegExp(`${BASE}/System/MailSetting\\?tab=smtp$`));
  const newest = page.locator("#audit-log tbody tr").first();
  await expect(newest).toHaveAttribute("data-action", "settings.save");
  await expect(newest).toContainText(ADMIN);
  await expect(newest).toContainText("manager_root");
  // The seeding script's save is there too, under its token's name.
  await expect(page.locator("#audit-log")).toContainText("token:e2e");
  await expect(page.locator("#audit-log")).not.toContainText("Initial-Secret-Pa55");
});
