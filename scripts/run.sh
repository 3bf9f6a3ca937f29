#!/usr/bin/env bash
# Runs the product on its embedded default (SQLite file under data/, created on first run).
set -euo pipefail
cd "$(dirname "$0")/.."
NEED_BROWSER=0 scripts/setup.sh
# The release bundle is optimised with binaryen's wasm-opt from end2end/node_modules.
export PATH="$PWD/end2end/node_modules/.bin:$PATH"
exec cargo leptos serve --release
