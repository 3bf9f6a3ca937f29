#!/usr/bin/env bash
# Every test, against the build users run: the release build of `make run` (built once), the
# Rust unit and integration tests in the same release profile (they reuse its artifacts), then
# the browser tests against the release server and bundle, then the linters (`make lint`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# A one-off build (CI) gains nothing from incremental artifacts but their disk space.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
start=$(date +%s)
# Formatting first: it takes a second and needs no build.
cargo fmt --all -- --check
scripts/build.sh
built=$(date +%s)
printf '\033[1m==> Rust unit and integration tests (release profile)\033[0m\n'
# leptos_config reads LEPTOS_OUTPUT_NAME at compile time and cargo-leptos sets it: the same
# value here lets the tests reuse the release build's leptos instead of compiling it again.
LEPTOS_OUTPUT_NAME=mail-settings cargo test --release --workspace --exclude frontend --features app/ssr
tested=$(date +%s)
printf '\033[1m==> Browser tests (Playwright, Chromium) against the release build\033[0m\n'
SKIP_BUILD=1 scripts/e2e.sh
browsed=$(date +%s)
printf '\033[1m==> Lint (rustfmt, clippy on the server and the browser target)\033[0m\n'
make lint
done_at=$(date +%s)
printf 'timings: release build %ss, Rust tests %ss, browser tests %ss, lint %ss\n' \
  $((built - start)) $((tested - built)) $((browsed - tested)) $((done_at - browsed))
