import { expect, test } from "@playwright/test";
import { BASE, seed, SettingsPage, Tab } from "./fixtures/settings";

test.beforeEach(async ({ request }) => {
  await seed(request);
});

for (const tab of ["smtp", "microsoft", "google"] as Tab[]) {
  test(`a cold load of ?tab=${tab} shows that tab`, async ({ page }) => {
    const settings = new SettingsPage(page);
    await settings.open({ tab });
    await settings.expectTab(tab);
  });

  test(`the server renders ?tab=${tab} before any script runs`, async ({ request }) => {
    const html = await (await request.get(`${BASE}/System/MailSetting?tab=${tab}`)).text();
    expect(html).toContain(`data-panel="${tab}"`);
    expect(html).toMatch(new RegExp(`id="tab-${tab}"[^>]*aria-selected="true"|aria-selected="true"[^>]*id="tab-${tab}"`));
  });
}

test("an unknown tab falls back to the saved method", async ({ page, request }) => {
  const settings = new SettingsPage(page);
  await settings.open({ tab: "pop3" });
  await settings.expectTab("smtp");

  await seed(request, {
    auth: "oauth",
    oauth: {
      provider: "google",
      client_id: "1234567890-abc.apps.googleusercontent.com",
      client_secret: "google-secret-value",
      tenant_id: "",
    },
    manager_root: "https://reports.example.co.jp/ConMasManager",
  });
  await settings.open({ tab: "nonsense" });
  await settings.expectTab("google");
  await settings.open();
  await settings.expectTab("google");
});

test("the edit page also takes the tab from the URL", async ({ page }) => {
  const settings = new SettingsPage(page);
  await settings.open({ edit: true, tab: "microsoft" });
  await settings.expectTab("microsoft");
  await expect(settings.input("ms-client-id")).toBeVisible();
});
