#!/usr/bin/env bash
# Every test: Rust unit and integration tests, then the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# A one-off build (CI) gains nothing from incremental artifacts but their disk space.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
printf '\033[1m==> Rust unit and integration tests\033[0m\n'
cargo test --workspace --exclude frontend --features app/ssr
printf '\033[1m==> Browser tests (Playwright, Chromium)\033[0m\n'
scripts/e2e.sh
