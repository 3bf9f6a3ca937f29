#!/usr/bin/env bash
# Builds exactly what users run: the release server (target/release/server) and the release
# browser bundle (target/site: one main WebAssembly module plus a chunk per page, hashed file
# names, brotli and gzip twins made here, once).
# `make run`, `make test` and `make bench-size` all build through this script, so the tests
# prove the build a user runs. Exits non-zero, with the compiler's message, when anything is
# missing afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
# The release bundle is optimised with binaryen's wasm-opt from end2end/node_modules.
export PATH="$PWD/end2end/node_modules/.bin:$PATH"
printf '\033[1m==> Release build: the browser bundle\033[0m\n'
# The bundle's standard library is compiled here, with panics that stop at once (no message, no
# location, no formatting machinery): 18 KB less brotli in the main module every page loads,
# 26 KB less on the settings page's first load (README, *Browser bundle*). A panic in the
# browser still shows in the console ("unreachable") and fails the browser tests; debug builds
# (`make dev`) keep the messages. Both flags are unstable, hence RUSTC_BOOTSTRAP for this one
# cargo call on the pinned stable toolchain. The server is compiled in a separate call without
# it: cargo counts RUSTC_BOOTSTRAP in its fingerprints, and `cargo test` would otherwise compile
# everything again. A target's RUSTFLAGS replace `[build] rustflags` instead of adding to them,
# so `--cfg erase_components` from .cargo/config.toml is repeated here: change both together.
# The workspace's crates go through scripts/rustc-lint.sh, which lints them with clippy when the
# test command asks (LINT_WITH_CLIPPY=1) and compiles them with rustc, unchanged, either way.
RUSTC_BOOTSTRAP=1 RUSTC_WORKSPACE_WRAPPER="$PWD/scripts/rustc-lint.sh" \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="--cfg erase_components -Zunstable-options -Cpanic=immediate-abort" \
  cargo leptos build --release --precompress --split --frontend-only \
  --lib-cargo-args=-Zbuild-std=std,panic_abort
printf '\033[1m==> Release build: the server\033[0m\n'
cargo leptos build --release --precompress --split --server-only

# cargo-leptos has exited 0 after failures before: check what it must have produced.
fail() { printf '\033[1;31mbuild incomplete: %s\033[0m\n' "$*" >&2; exit 1; }
[ -x target/release/server ] || fail "target/release/server is missing"
hash_file=target/release/hash.txt
[ -f "$hash_file" ] || fail "$hash_file is missing (hash-files in Cargo.toml)"
for kind in js wasm css; do
  hash=$(awk -F': *' -v k="$kind" '$1 == k { print $2 }' "$hash_file")
  [ -n "$hash" ] || fail "$hash_file names no $kind file"
  file="target/site/pkg/mail-settings.$hash.$kind"
  [ -s "$file" ] || fail "$file is missing: the bundle does not match the server binary"
  for twin in br gz; do
    [ -s "$file.$twin" ] || fail "$file.$twin is missing (precompression)"
  done
done
printf '    built: target/release/server, target/site/pkg (%s)\n' "$(tr '\n' ' ' < "$hash_file")"
