import { defineConfig } from "@playwright/test";
import * as os from "os";
import * as path from "path";

// scripts/e2e.sh picks a free port, a fresh database and the built site, and passes them here.
const port = Number(process.env.E2E_PORT ?? 3900);
const baseURL = `http://127.0.0.1:${port}`;
// The local stand-in for Microsoft's and Google's endpoints (fakes/provider.mjs).
const providerPort = Number(process.env.E2E_PROVIDER_PORT ?? port + 1);
export const PROVIDER = `http://127.0.0.1:${providerPort}`;
// The real SMTP server of the tests (fakes/smtp_server.py, Debian's python3-aiosmtpd).
const smtpPort = Number(process.env.E2E_SMTP_PORT ?? port + 2);
const smtpControlPort = Number(process.env.E2E_SMTP_CONTROL_PORT ?? port + 3);
export const STATE = path.join(os.tmpdir(), `mail-settings-e2e-${port}-session.json`);

export default defineConfig({
  testDir: "./tests",
  // One server, one database: specs run one after another and set up the state they need.
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: [["list"]],
  // Signs the administrator in once; every spec starts with that session (see global-setup.ts).
  globalSetup: "./tests/global-setup.ts",
  use: {
    baseURL,
    storageState: STATE,
    locale: "ja-JP",
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    },
  },
  webServer: [
  {
    command: `/usr/bin/python3 fakes/smtp_server.py --port ${smtpPort} --control-port ${smtpControlPort} --auth notice@example.co.jp:e2e-smtp-password`,
    url: `http://127.0.0.1:${smtpControlPort}/messages`,
    reuseExistingServer: false,
    timeout: 30_000,
    stdout: "pipe",
    stderr: "pipe",
  },
  {
    command: `node fakes/provider.mjs ${providerPort}`,
    url: `${PROVIDER}/_stats`,
    reuseExistingServer: false,
    timeout: 30_000,
    stdout: "pipe",
    stderr: "pipe",
  },
  {
    command: process.env.E2E_SERVER_CMD ?? "../target/release/server",
    url: `${baseURL}/ConMasManager/health`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "pipe",
    stderr: "pipe",
    env: {
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: process.env.E2E_SITE_ROOT ?? "../target/site",
      LEPTOS_OUTPUT_NAME: "mail-settings",
      DATABASE_URL:
        process.env.E2E_DATABASE_URL ??
        `sqlite://${path.join(os.tmpdir(), `mail-settings-e2e-${port}-${Date.now()}.db`)}`,
      SERVER_IP: "192.168.10.20",
      MAIL_SECRET_KEY_FILE:
        process.env.E2E_KEY_FILE ?? path.join(os.tmpdir(), `mail-settings-e2e-${port}.key`),
      ADMIN_USER: "admin",
      ADMIN_PASSWORD: process.env.E2E_ADMIN_PASSWORD ?? "e2e-admin-passphrase",
      RUST_LOG: "info",
      MS_AUTHORITY_URL: PROVIDER,
      MS_GRAPH_URL: PROVIDER,
      GOOGLE_AUTH_URL: `${PROVIDER}/o/oauth2/v2/auth`,
      GOOGLE_TOKEN_URL: `${PROVIDER}/token`,
      GOOGLE_REVOKE_URL: `${PROVIDER}/revoke`,
      GOOGLE_USERINFO_URL: `${PROVIDER}/v1/userinfo`,
      GMAIL_API_URL: PROVIDER,
      NO_PROXY: "127.0.0.1,localhost",
    },
  },
  ],
});
