import { expect, test } from "@playwright/test";
import { SettingsPage } from "./fixtures/settings";

/** The release bundle as the browser gets it: hashed names, made-at-build compression chosen by
 * Accept-Encoding, cached for good; pages themselves never cached. */
test("bundle files are hashed, precompressed and immutable; pages are not cached", async ({ page }) => {
  const settings = new SettingsPage(page);
  const pageResponse = await settings.open();
  expect(pageResponse?.headers()["cache-control"]).toBe("no-store");

  const html = await (await page.request.get(page.url())).text();
  const files = [...html.matchAll(/\/pkg\/(mail-settings\.[0-9a-zA-Z_-]+\.(?:js|wasm|css))/g)].map((m) => m[1]);
  const kinds = new Set(files.map((f) => f.split(".").pop()));
  expect([...kinds].sort(), html.slice(0, 2000)).toEqual(["css", "js", "wasm"]);

  for (const file of new Set(files)) {
    for (const [accept, encoding] of [["br, gzip", "br"], ["gzip", "gzip"]] as const) {
      const res = await page.request.get(`/pkg/${file}`, { headers: { "accept-encoding": accept } });
      expect(res.status(), file).toBe(200);
      expect(res.headers()["content-encoding"], `${file} (${accept})`).toBe(encoding);
      expect(res.headers()["cache-control"], file).toBe("public, max-age=31536000, immutable");
    }
  }
  // A name that is not in the bundle is a 404, and never cached.
  const missing = await page.request.get("/pkg/mail-settings.0000.wasm");
  expect(missing.status()).toBe(404);
  expect(missing.headers()["cache-control"]).toBe("no-store");
});
