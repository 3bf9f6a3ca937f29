import { FullConfig, request } from "@playwright/test";
import { STATE } from "../playwright.config";
import { ADMIN, adminPassword, BASE } from "./fixtures/settings";

/** Signs the administrator in once, through the real sign-in form's POST, and keeps the session
 * cookie for every spec (specs about signing in start from an empty state instead). */
export default async function globalSetup(config: FullConfig) {
  const baseURL = config.projects[0].use.baseURL!;
  const ctx = await request.newContext({ baseURL });
  const res = await ctx.post(`${BASE}/System/Login`, {
    form: { username: ADMIN, password: adminPassword(), next: "" },
    headers: { origin: baseURL },
    maxRedirects: 0,
  });
  if (res.status() !== 303 || !(res.headers()["location"] ?? "").endsWith("/System/MailSetting")) {
    throw new Error(`sign-in for the specs failed: ${res.status()} ${res.headers()["location"]}`);
  }
  await ctx.storageState({ path: STATE });
  await ctx.dispose();
}
