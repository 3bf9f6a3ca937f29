#!/usr/bin/env bash
# Every test, against the build users run: the release build of `make run` (scripts/build.sh,
# exactly as `make run` builds it) and the browser tests against it, then the Rust unit and
# integration tests in the same release profile (they reuse its dependency artifacts). The
# linters of `make lint` run too: rustfmt's check first, clippy beside the compiler on the
# browser side's crates in the release build (scripts/rustc-lint.sh), and clippy as the
# compiler of the workspace crates in the Rust tests' build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# A one-off build (CI) gains nothing from incremental artifacts but their disk space.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
start=$(date +%s)
# Formatting first: it takes a second and needs no build.
cargo fmt --all -- --check
# The release build, never with clippy as its compiler: that turns rustc's MIR optimisations
# off, and the bundle it built was 12 KB larger on the settings page than the one `make run`
# serves (2026-12-07). What the browser tests use is byte for byte what users run: clippy only
# reads the browser side's crates beside the compiler, which compiles them as `make run` does.
LINT_WITH_CLIPPY=1 scripts/build.sh
built=$(date +%s)
printf '\033[1m==> Browser tests (Playwright, Chromium) against the release build\033[0m\n'
# First, while target/release/server is the binary of the release build. (The Rust tests'
# clippy-compiled build names its own binaries apart, under target/release/deps; `make run`
# after `make test` compiled nothing and served the tested bundle, 2026-12-07.)
SKIP_BUILD=1 scripts/e2e.sh
e2e_done=$(date +%s)
# The browser side's crates were linted while they were compiled, unless the last compilation
# was `make run`'s (the release build then found them fresh): lint those on their own.
if grep -qsx "not linted" target/rustc-lint/*; then
  printf '\033[1m==> Clippy on the browser side (compiled by make run, not linted yet)\033[0m\n'
  cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings
  for note in target/rustc-lint/*; do echo linted > "$note"; done
fi
linted=$(date +%s)
# Clippy the way `cargo clippy` runs it (RUSTC_WORKSPACE_WRAPPER=clippy-driver, arguments in
# CLIPPY_ARGS), but as the compiler of every test target of the workspace (cargo test), which
# compiles them anyway. Warnings are errors.
RUSTC_WORKSPACE_WRAPPER="$(dirname "$(rustup which cargo)")/clippy-driver"
export RUSTC_WORKSPACE_WRAPPER
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
printf '\033[1m==> Rust unit and integration tests (release profile), with clippy\033[0m\n'
# leptos_config reads LEPTOS_OUTPUT_NAME at compile time and cargo-leptos sets it: the same
# value here lets the tests reuse the release build's leptos instead of compiling it again.
LEPTOS_OUTPUT_NAME=mail-settings cargo test --release --workspace --exclude frontend --features app/ssr
sqlite_tested=$(date +%s)
printf '\033[1m==> The server integration tests again, on PostgreSQL (a throwaway cluster)\033[0m\n'
# Every integration test but two that are about SQLite itself (its files' permissions, its own
# older migrations). Each test gets a database of its own in the cluster. The same cargo
# arguments as the run above, so that nothing is compiled again (with `-p server --tests` the
# server crate was compiled a second time: 4 min 40 s on a clean clone); the unit tests of the
# crates, a few seconds, run again with it.
pg_dir=$(mktemp -d)
trap 'scripts/postgres.sh stop "${pg_dir}"; rm -rf "${pg_dir}"' EXIT
TEST_POSTGRES=$(PG_FSYNC=off scripts/postgres.sh start "${pg_dir}")
export TEST_POSTGRES
LEPTOS_OUTPUT_NAME=mail-settings cargo test --release --workspace --exclude frontend --features app/ssr -- \
  --skip the_database_files_are_private \
  --skip older_databases_keep_their_times_in_the_one_representation
unset TEST_POSTGRES
tested=$(date +%s)
printf 'timings: release build %ss, browser tests %ss, clippy on its own (wasm, only after make run) %ss, Rust tests with clippy %ss, on PostgreSQL %ss\n' \
  $((built - start)) $((e2e_done - built)) $((linted - e2e_done)) $((sqlite_tested - linted)) $((tested - sqlite_tested))
