#!/usr/bin/env bash
# Installs every tool the build and the tests need, skipping what is already there.
# Safe to run again and again; `make run` and `make test` call it first.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10
step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
skip() { printf '    %s\n' "$*"; }

need_browser=${NEED_BROWSER:-1}

# Rust target for the browser bundle.
if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  skip "wasm32-unknown-unknown target: present"
else
  step "Adding the wasm32-unknown-unknown Rust target"
  rustup target add wasm32-unknown-unknown
fi

# The standard library's source: the release bundle compiles its own (scripts/build.sh).
if rustup component list --installed 2>/dev/null | grep -qx rust-src; then
  skip "rust-src component: present"
else
  step "Adding the rust-src component"
  rustup component add rust-src
fi

# rustfmt and clippy: the test command runs `make lint`.
if cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1; then
  skip "rustfmt, clippy: present"
else
  step "Adding the rustfmt and clippy components"
  rustup component add rustfmt clippy
fi

# cargo-leptos (builds server + wasm bundle). 0.3.10 is the newest that builds on this rustc.
if cargo leptos --version 2>/dev/null | grep -q " ${CARGO_LEPTOS_VERSION}"; then
  skip "cargo-leptos ${CARGO_LEPTOS_VERSION}: present"
else
  # A debug build of the tool itself: it only drives cargo and wasm-bindgen, and compiles in
  # about 7 minutes here instead of 22 for an optimised one.
  step "Installing cargo-leptos ${CARGO_LEPTOS_VERSION} (about 7 minutes, once)"
  cargo install cargo-leptos --version "${CARGO_LEPTOS_VERSION}" --locked --debug
fi

# wasm-bindgen CLI: exactly the version in Cargo.lock, or cargo-leptos would try a download.
WB_VERSION=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
if [ -z "${WB_VERSION}" ]; then
  echo "Cargo.lock names no wasm-bindgen version" >&2
  exit 1
fi
if wasm-bindgen --version 2>/dev/null | grep -q " ${WB_VERSION}\b"; then
  skip "wasm-bindgen ${WB_VERSION}: present"
else
  step "Installing wasm-bindgen-cli ${WB_VERSION} (about 4 minutes, once)"
  cargo install wasm-bindgen-cli --version "${WB_VERSION}" --force
fi

# Debian packages: Chromium for the browser tests, aiosmtpd as the tests' real SMTP server.
missing=()
if [ "${need_browser}" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  # The tests' real SMTP server (end2end/fakes/smtp_server.py) runs on Debian's Python.
  /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || missing+=(python3-aiosmtpd)
  /usr/bin/python3 -c 'import OpenSSL' 2>/dev/null || missing+=(python3-openssl)
  # PostgreSQL server binaries: the tests run every integration test on a throwaway cluster
  # too (scripts/postgres.sh).
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  # The certificate tests make their certificates and keys with the openssl command.
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
fi
if [ ${#missing[@]} -gt 0 ]; then
  step "Installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
else
  skip "Debian packages: present"
fi

# npm packages: Playwright (tests) and binaryen's wasm-opt (release bundle).
if [ -f end2end/node_modules/.package-lock.json ] && cmp -s end2end/package-lock.json end2end/node_modules/.package-lock.json.src 2>/dev/null; then
  skip "npm packages: present"
else
  step "Installing npm packages (Playwright, binaryen)"
  (cd end2end && npm ci --no-audit --no-fund --loglevel=error)
  cp end2end/package-lock.json end2end/node_modules/.package-lock.json.src
fi
