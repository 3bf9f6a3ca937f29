import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "@playwright/test";
import {
  managerRoot,
  MS_CLIENT_ID,
  MS_TENANT,
  providerStats,
  resetProvider,
  seed,
  SettingsPage,
  SMTP_SETTINGS,
} from "./fixtures/settings";

// A certificate and its key, made by the openssl command as an administrator would.
function makePair(name: string) {
  const dir = mkdtempSync(join(tmpdir(), "cert-"));
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${name}.contoso.example`,
    "-days", "365", "-keyout", keyFile, "-out", certFile,
  ], { stdio: "ignore" });
  const sha1 = execFileSync("openssl", ["x509", "-in", certFile, "-noout", "-fingerprint", "-sha1"])
    .toString()
    .trim()
    .split("=")[1]
    .replaceAll(":", "");
  return { certFile, keyFile, cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8"), sha1 };
}

const RESET = {
  ...SMTP_SETTINGS,
  oauth: { provider: "google", client_id: "", client_secret: null, tenant_id: "" },
};

test.beforeEach(async ({ request }) => {
  await seed(request, { ...RESET, manager_root: managerRoot() });
});

test.afterEach(async ({ request }) => {
  await seed(request, { ...RESET, manager_root: managerRoot() });
  await resetProvider(request, {});
});

test("Microsoft with a certificate: upload, mismatch named at once by the server, token signed with it", async ({ page, request }) => {
  const good = makePair("notice");
  const other = makePair("other");
  await resetProvider(request, { clientCertificate: good.cert });
  const settings = new SettingsPage(page);
  await settings.open({ edit: true, tab: "microsoft" });
  await page.locator("#use-this-method").click();
  await page.locator("#ms-client-id").fill(MS_CLIENT_ID);
  await page.locator("#ms-tenant-id").fill(MS_TENANT);
  await page.locator("#ms-flow-app-only").check();
  await page.locator("#ms-sender").fill("notice@contoso.com");

  // Choosing the certificate hides the client secret and asks for the pair.
  await expect(page.locator("#ms-client-secret")).toBeVisible();
  await page.locator("#ms-credential-certificate").check();
  await expect(page.locator("#ms-client-secret")).toHaveCount(0);
  await expect(page.locator("#ms-secret-expires-on")).toHaveCount(0);

  // The certificate from its file, a key typed wrong then pasted: the browser names the shape.
  await page.locator("#ms-certificate-file").setInputFiles(good.certFile);
  await expect(page.locator("#ms-certificate")).toHaveValue(/BEGIN CERTIFICATE/);
  await page.locator("#ms-certificate-key").fill("not a key");
  await expect(page.locator("#ms-certificate-key-error")).toHaveAttribute("data-code", "certificate_key_invalid");
  // Another certificate's key passes the browser's look but not the server's check.
  await page.locator("#ms-certificate-key").fill(other.key);
  await expect(page.locator("#ms-certificate-key-error")).not.toHaveAttribute("data-code", /.+/);
  await settings.save();
  await expect(page.locator("#ms-certificate-key-error")).toHaveAttribute("data-code", "certificate_key_mismatch");
  await expect(page).toHaveURL(/\/Edit/);

  // The right key, from its file.
  await page.locator("#ms-certificate-key-file").setInputFiles(good.keyFile);
  await expect(page.locator("#ms-certificate-key-error")).not.toHaveAttribute("data-code", /.+/);
  await settings.save();
  await expect(page).toHaveURL(/\/System\/MailSetting\?tab=microsoft/);
  await settings.hydrated();

  // The page shows the thumbprint Azure lists, never the key.
  await expect(page.locator("#view-oauth-credential")).toBeVisible();
  await expect(page.locator("#view-oauth-certificate-thumbprint")).toHaveText(good.sha1);
  const html = await page.content();
  expect(html).not.toContain("PRIVATE KEY");
  expect(html).not.toContain(good.key.split("\n")[1]);

  // "Check token": the client assertion signed with the key is accepted.
  await page.locator("#oauth-check").click();
  await expect(page.locator("#oauth-banner")).toHaveAttribute("data-code", "token_ok");
  const stats = await providerStats(request);
  expect(stats.token.map((t: any) => [t.grant_type, t.assertion, t.has_client_secret])).toEqual([
    ["client_credentials", "ok", false],
  ]);

  // Reopened: the certificate is summarised and kept, the key is "Set".
  await settings.open({ edit: true, tab: "microsoft" });
  await expect(page.locator("#ms-credential-certificate")).toBeChecked();
  await expect(page.locator("#ms-certificate-thumbprint")).toHaveText(good.sha1);
  await expect(page.locator("#ms-certificate-key-status")).toHaveClass(/is-set/);
  await expect(page.locator("#ms-certificate")).toHaveValue("");
});
