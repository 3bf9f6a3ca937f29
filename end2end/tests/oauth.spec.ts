import { expect, test } from "@playwright/test";
import {
  BASE,
  managerRoot,
  MS_CLIENT_ID,
  MS_TENANT,
  oauthSettings,
  PROVIDER,
  providerStats,
  resetProvider,
  seed,
  SettingsPage,
  SMTP_SETTINGS,
} from "./fixtures/settings";

const SECRET = "e2e-client-secret-value";

test.beforeEach(async ({ request }) => {
  await resetProvider(request, { clientSecret: SECRET });
  // Google as the stored provider forgets any Microsoft secret an earlier spec saved.
  await seed(request, {
    ...SMTP_SETTINGS,
    oauth: { provider: "google", client_id: "", client_secret: null, tenant_id: "" },
    manager_root: managerRoot(),
  });
});

test("saving Microsoft OAuth settings goes through the consent page and shows the account", async ({
  page,
  request,
}) => {
  const settings = new SettingsPage(page);
  await settings.open({ edit: true, tab: "microsoft" });
  await page.locator("#use-this-method").click();
  await page.locator("#ms-client-id").fill(MS_CLIENT_ID);
  await page.locator("#ms-client-secret").fill(SECRET);
  await page.locator("#ms-tenant-id").fill(MS_TENANT);
  await page.locator("#save-button").click();

  // The provider's consent page, asked for exactly the documented scopes.
  await expect(page.locator("#consent-title")).toContainText("microsoft");
  await expect(page.locator("#consent-scope")).toHaveText("offline_access openid Mail.Send User.Read");
  await expect(page.locator("#consent-login-hint")).toHaveText("notice@example.co.jp");
  await page.locator("#consent-accept").click();

  await expect(page).toHaveURL(new RegExp(`${BASE}/System/MailSetting\\?tab=microsoft&oauth=connected$`));
  await settings.hydrated();
  await expect(page.locator("#oauth-banner")).toHaveAttribute("data-code", "connected");
  await expect(page.locator("#oauth-status")).toHaveAttribute("data-state", "ok");
  await expect(page.locator("#oauth-account")).toContainText("notice@contoso.example");
  await expect(page.locator("#oauth-connected-by")).toHaveText("admin");

  // "Check token" really refreshes.
  await page.locator("#oauth-check").click();
  await expect(page.locator("#oauth-banner")).toHaveAttribute("data-code", "token_ok");
  await expect(page.locator("#oauth-last-refresh")).toContainText("Z");
  const stats = await providerStats(request);
  expect(stats.token.map((t: any) => t.grant_type)).toEqual(["authorization_code", "refresh_token"]);
  expect(stats.token[0].has_code_verifier).toBe(true);

  // No token on the page, ever.
  const html = await page.content();
  for (const token of [...stats.issuedAccess, ...stats.issuedRefresh, SECRET]) {
    expect(html).not.toContain(token);
  }

  // A dead refresh token is found by "Check token", not by a failed notification.
  await request.post(`${PROVIDER}/_control`, {
    data: {
      tokenErrors: [
        {
          status: 400,
          body: {
            error: "invalid_grant",
            error_description: "AADSTS70008: The refresh token has expired due to inactivity.",
            error_codes: [70008],
          },
        },
      ],
    },
  });
  await page.locator("#oauth-check").click();
  await expect(page.locator("#oauth-banner")).toHaveAttribute("data-code", "reconnect_needed");
  await expect(page.locator("#oauth-banner")).toContainText("AADSTS70008");
  await expect(page.locator("#oauth-status")).toHaveAttribute("data-state", "problem");

  // Disconnect asks first, then forgets the account.
  page.once("dialog", (d) => d.accept());
  await page.locator("#oauth-disconnect").click();
  await expect(page.locator("#oauth-banner")).toHaveAttribute("data-code", "disconnected");
  await expect(page.locator("#oauth-status")).toHaveAttribute("data-state", "none");
  await expect(page.locator("#oauth-account")).toHaveCount(0);
});

test("declining consent says so and connects nothing", async ({ page, request }) => {
  await seed(request, oauthSettings("microsoft", SECRET));
  const settings = new SettingsPage(page);
  await settings.open({ tab: "microsoft" });
  await expect(page.locator("#oauth-status")).toHaveAttribute("data-state", "none");
  await page.locator("#oauth-connect").click();
  await page.locator("#consent-deny").click();
  await expect(page).toHaveURL(/oauth=denied$/);
  await settings.hydrated();
  await expect(page.locator("#oauth-banner")).toHaveAttribute("data-code", "denied");
  await expect(page.locator("#oauth-status")).toHaveAttribute("data-state", "none");
  expect((await providerStats(request)).token).toHaveLength(0);
});

test("a forged state is refused and nothing is exchanged", async ({ page, request }) => {
  await seed(request, oauthSettings("microsoft", SECRET));
  const settings = new SettingsPage(page);
  await settings.open({ tab: "microsoft" });
  await page.locator("#oauth-connect").click();
  await expect(page.locator("#consent-title")).toBeVisible();
  // The real code, with someone else's state.
  const accept = await page.locator("#consent-accept").getAttribute("href");
  const redirect = await request.get(accept!, { maxRedirects: 0 });
  const callback = new URL(redirect.headers()["location"]);
  callback.searchParams.set("state", "forged-by-an-attacker");
  await page.goto(callback.toString());
  await expect(page).toHaveURL(/oauth=state_invalid$/);
  await settings.hydrated();
  await expect(page.locator("#oauth-banner")).toHaveAttribute("data-code", "state_invalid");
  await expect(page.locator("#oauth-status")).toHaveAttribute("data-state", "none");
  expect((await providerStats(request)).token).toHaveLength(0);
});

test("Google: the consenting account becomes the sender", async ({ page, request }) => {
  await request.post(`${PROVIDER}/_control`, {
    data: { idClaims: { email: "sender@gmail.example", email_verified: true } },
  });
  await seed(request, oauthSettings("google", SECRET));
  const settings = new SettingsPage(page);
  await settings.open({ tab: "google" });
  await page.locator("#oauth-connect").click();
  await expect(page.locator("#consent-scope")).toHaveText(
    "openid email https://www.googleapis.com/auth/gmail.send",
  );
  await page.locator("#consent-accept").click();
  await expect(page).toHaveURL(/tab=google&oauth=connected$/);
  await settings.hydrated();
  await expect(page.locator("#oauth-account")).toContainText("sender@gmail.example");
  // The Microsoft tab knows the saved provider is Google.
  await page.locator("#tab-microsoft").click();
  await expect(page.locator("#oauth-not-saved")).toBeVisible();
  await expect(page.locator("#oauth-connect")).toBeDisabled();
});

test("Google: sending as an alias asks to read the Gmail settings and waits until Gmail has verified it", async ({
  page,
  request,
}) => {
  await request.post(`${PROVIDER}/_control`, {
    data: {
      idClaims: { email: "sender@gmail.example", email_verified: true },
      gmailSendAs: { "notice@example.co.jp": "pending" },
    },
  });
  const saved = oauthSettings("google", SECRET);
  await seed(request, { ...saved, oauth: { ...saved.oauth, send_as: "notice@example.co.jp" } });
  const settings = new SettingsPage(page);
  await settings.open({ tab: "google" });
  await page.locator("#oauth-connect").click();
  await expect(page.locator("#consent-scope")).toHaveText(
    "openid email https://www.googleapis.com/auth/gmail.send https://www.googleapis.com/auth/gmail.settings.basic",
  );
  await page.locator("#consent-accept").click();
  // Connected, but the alias is not confirmed in Gmail yet: named, and sending waits.
  await expect(page).toHaveURL(/tab=google&oauth=send_as_not_verified$/);
  await settings.hydrated();
  await expect(page.locator("#oauth-banner")).toHaveAttribute("data-code", "send_as_not_verified");
  await expect(page.locator("#oauth-status")).toHaveAttribute("data-state", "problem");
  // Confirmed in Gmail: "Check token" finds it verified.
  await request.post(`${PROVIDER}/_control`, { data: { gmailSendAs: { "notice@example.co.jp": "accepted" } } });
  await page.locator("#oauth-check").click();
  await expect(page.locator("#oauth-banner")).toHaveAttribute("data-code", "token_ok");
  await expect(page.locator("#oauth-status")).toHaveAttribute("data-state", "ok");
  // Read at the consent and again at the check, for the saved address only.
  const reads = (await providerStats(request)).sendAs;
  expect(reads.length).toBeGreaterThanOrEqual(2);
  for (const read of reads) expect([read.address, read.status]).toEqual(["notice@example.co.jp", 200]);
});

test("SMTP on Microsoft 365 offers the move to Microsoft OAuth", async ({ page }) => {
  const settings = new SettingsPage(page);
  await settings.open({ edit: true, tab: "smtp" });
  await page.locator("#smtp-server").fill("smtp.office365.com");
  await page.locator("#move-to-microsoft").click();
  await settings.expectTab("microsoft");
  await expect(page.locator("#auth-oauth")).toBeChecked();
  await expect(page.locator("#provider-microsoft")).toBeChecked();
});

test("Microsoft: when consent is missing, the admin-consent link is there to hand on, and its answer shows", async ({
  page,
  request,
}) => {
  await seed(request, oauthSettings("microsoft", SECRET));
  const settings = new SettingsPage(page);
  // Closed while nothing failed.
  await settings.open({ tab: "microsoft" });
  await expect(page.locator("#admin-consent")).not.toHaveAttribute("open", "");
  // Where the callback lands after AADSTS65001 / 90094: open, with the link.
  await page.goto(`${BASE}/System/MailSetting?tab=microsoft&oauth=consent_missing`);
  await settings.hydrated();
  await expect(page.locator("#oauth-banner")).toHaveAttribute("data-code", "consent_missing");
  await expect(page.locator("#admin-consent")).toHaveAttribute("open", "");
  const link = new URL((await page.locator("#admin-consent-url").textContent())!);
  expect(`${link.origin}${link.pathname}`).toBe(`${PROVIDER}/${MS_TENANT}/adminconsent`);
  expect(link.searchParams.get("client_id")).toBe(MS_CLIENT_ID);
  expect(link.searchParams.get("redirect_uri")).toBe(`${managerRoot()}/System/MailOAuthMicrosoft`);
  expect(link.searchParams.get("state")).toBe("admin_consent");

  // The tenant administrator granted it and came back through the callback.
  await page.goto(`${BASE}/System/MailOAuthMicrosoft?admin_consent=True&tenant=${MS_TENANT}&state=admin_consent`);
  await expect(page).toHaveURL(/oauth=admin_consent_granted$/);
  await settings.hydrated();
  await expect(page.locator("#oauth-banner")).toHaveAttribute("data-code", "admin_consent_granted");
  await expect(page.locator("#oauth-banner")).toContainText("[接続]");
  expect((await providerStats(request)).token).toHaveLength(0);
});
