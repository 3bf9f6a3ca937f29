#!/usr/bin/env bash
# What a browser downloads, measured on the release build users run:
#  1. per bundle file: raw, gzip and brotli sizes (the .gz / .br twins the build made and the
#     server sends by Accept-Encoding) -> target/bundle-size.txt
#  2. per page (view, edit, templates, log): the first load, signed in, empty cache, in
#     Chromium, everything until the network is idle, as counted on the wire
#     -> target/first-load.txt
#  3. Lighthouse (mobile and desktop presets) on the settings page, signed in
#     -> target/lighthouse.txt
#  4. the main thread's long tasks while the settings page hydrates, as Chromium times them
#     with a 4x CPU slowdown, five loads -> target/long-tasks.txt
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
out=target/bundle-size.txt
{
  printf '%-40s %10s %10s %10s\n' file raw gzip brotli
  for f in target/site/pkg/*; do
    case "$f" in *.br|*.gz) continue ;; esac
    printf '%-40s %10s %10s %10s\n' "$(basename "$f")" "$(stat -c %s "$f")" \
      "$(stat -c %s "$f.gz")" "$(stat -c %s "$f.br")"
  done
} | tee "$out"
# Lighthouse is only for this report: installed here (not in package.json, so the test
# command's `npm ci` does not fetch it), at a fixed version.
if [ ! -d end2end/node_modules/lighthouse ]; then
  (cd end2end && npm install --no-save --no-audit --no-fund lighthouse@12.8.2)
fi
SKIP_BUILD=1 scripts/e2e.sh --config=playwright.bench.config.ts
