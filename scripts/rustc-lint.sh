#!/usr/bin/env bash
# RUSTC_WORKSPACE_WRAPPER of the release browser build (scripts/build.sh): cargo runs it, for the
# workspace's own crates only, as `rustc-lint.sh <rustc> <arguments>`.
#
# With LINT_WITH_CLIPPY=1 (the test command) it first runs clippy on the crate, with the same
# arguments but writing only metadata, into a directory of its own, and stops the build when
# clippy finds anything. Then, always, it runs the real compiler with the arguments unchanged:
# what it compiles is byte for byte what the build compiles without linting. (Clippy as the
# compiler turns rustc's MIR optimisations off: 12 KB more on the settings page, 2026-12-07.)
#
# Without LINT_WITH_CLIPPY (`make run`) it only runs the compiler. `make run` and `make test`
# name the same wrapper, so cargo's fingerprints agree and `make run` after `make test` compiles
# nothing. Linting here instead of a separate `cargo clippy --target wasm32-unknown-unknown`
# saves that check build of every dependency (441 s of the test command on a clean clone).
set -euo pipefail
rustc=$1
shift
original=("$@")

# Which crate this is (cargo also runs the wrapper to ask rustc for facts, with no crate).
crate=
prev=
emits=false
for arg in "$@"; do
  if [ "$prev" = --crate-name ]; then crate=$arg; fi
  case "$arg" in --emit=*) emits=true ;; esac
  prev=$arg
done
$emits || crate=
lint=false
if [ -n "$crate" ] && [ "${LINT_WITH_CLIPPY:-}" = 1 ]; then
  lint=true
fi
# A note per crate: whether its last compilation here was linted. A crate compiled by `make run`
# is fresh for the next `make test` and not compiled (nor linted) again; the test command reads
# these notes and runs `cargo clippy` itself for such crates.
notes="$(dirname "$0")/../target/rustc-lint"
if [ -n "$crate" ]; then
  mkdir -p "$notes"
  rm -f "$notes/$crate"
fi

if $lint; then
  clippy_driver="$(dirname "$(rustup which cargo)")/clippy-driver"
  out=$(mktemp -d)
  args=()
  while [ $# -gt 0 ]; do
    case "$1" in
      # Only the crate's metadata (what `cargo check` writes), nothing cargo reads.
      --emit=*) args+=(--emit=metadata) ;;
      --out-dir) args+=(--out-dir "$out"); shift ;;
      # The compiler's incremental cache stays the compiler's.
      -C)
        case "${2:-}" in
          incremental=*) ;;
          *) args+=(-C "${2:-}") ;;
        esac
        shift
        ;;
      # No artifact notices: cargo would take clippy's metadata for the build's.
      --json=*) args+=(--json=diagnostic-rendered-ansi) ;;
      *) args+=("$1") ;;
    esac
    shift
  done
  # -D warnings, in the form `cargo clippy` hands it to the driver.
  CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" "$clippy_driver" "$rustc" "${args[@]}" \
    || { rm -rf "$out"; exit 1; }
  rm -rf "$out"
fi
if [ -n "$crate" ]; then
  if $lint; then echo linted > "$notes/$crate"; else echo "not linted" > "$notes/$crate"; fi
fi
exec "$rustc" "${original[@]}"
