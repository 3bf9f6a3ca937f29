import { defineConfig } from "@playwright/test";
import base from "./playwright.config";

// `make bench-size`: the same servers as the browser tests, running the measurements in
// ./bench instead of the specs (reports, not pass/fail thresholds).
export default defineConfig({ ...base, testDir: "./bench" });
