import { expect, test } from "@playwright/test";
import { seed, SettingsPage } from "./fixtures/settings";

test.beforeEach(async ({ request }) => {
  await seed(request);
});

test("Japanese by default; English on request, remembered across reloads", async ({ page, context }) => {
  // Forget the remembered language, not the session.
  await context.clearCookies({ name: "i18n_pref_locale" });
  const settings = new SettingsPage(page);
  await settings.open();
  await expect(settings.heading()).toHaveText("メール基本設定");
  await expect(page.locator("html")).toHaveAttribute("lang", "ja");

  await settings.chooseLanguage("English");
  await expect(settings.heading()).toHaveText("Mail basic settings");
  await expect(page.locator("#edit-button")).toHaveText("Edit");

  await page.reload();
  await settings.hydrated();
  await expect(settings.heading()).toHaveText("Mail basic settings");
  await expect(page.locator("html")).toHaveAttribute("lang", "en");

  // Errors follow the language too.
  await settings.open({ edit: true, tab: "smtp" });
  await settings.input("smtp-port").fill("465");
  await expect(settings.error("smtp-port")).toContainText("Port 465 (SMTPS) is not supported");

  // The page is rendered again in Japanese: the form's messages with it.
  await settings.chooseLanguage("日本語");
  await settings.input("smtp-port").fill("465");
  await expect(settings.error("smtp-port")).toContainText("ポート465");
});

test("one language choice for the whole console, whichever page it was made on", async ({ page, context }) => {
  await context.clearCookies({ name: "i18n_pref_locale" });
  const settings = new SettingsPage(page);
  await settings.open();
  await settings.chooseLanguage("English");
  await expect(settings.heading()).toHaveText("Mail basic settings");

  // Back to Japanese on the edit page (another folder of the URL), then reload there.
  await settings.open({ edit: true, tab: "smtp" });
  await expect(settings.heading()).toHaveText("Mail basic settings");
  await settings.chooseLanguage("日本語");
  await expect(settings.heading()).toHaveText("メール基本設定");
  await page.reload();
  await settings.hydrated();
  await expect(settings.heading()).toHaveText("メール基本設定");
  // The view page follows the same choice.
  await settings.open();
  await expect(settings.heading()).toHaveText("メール基本設定");

  const cookies = (await context.cookies()).filter((c) => c.name === "i18n_pref_locale");
  expect(cookies.map((c) => [c.path, c.value])).toEqual([["/", "ja"]]);
});

test("the page says its language once on <html>", async ({ page }) => {
  const settings = new SettingsPage(page);
  for (const [lang, button] of [["en", "English"], ["ja", "日本語"]] as const) {
    await settings.open();
    await settings.chooseLanguage(button);
    // What the server renders, before any script runs.
    const html = await (await page.request.get(page.url())).text();
    const tag = html.match(/<html[^>]*>/)![0];
    expect(tag.match(/\slang=/g), tag).toHaveLength(1);
    expect(tag).toContain(`lang="${lang}"`);
  }
});
