#!/usr/bin/env bash
# Builds the release bundle and reports what a browser downloads: raw and gzip-compressed
# sizes of the wasm, js and css files. Writes target/bundle-size.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
NEED_BROWSER=0 scripts/setup.sh
export PATH="$PWD/end2end/node_modules/.bin:$PATH"
cargo leptos build --release
out=target/bundle-size.txt
{
  printf '%-28s %12s %12s\n' file raw gzip-9
  for f in target/site/pkg/*.wasm target/site/pkg/*.js target/site/pkg/*.css; do
    raw=$(stat -c %s "$f")
    gz=$(gzip -9 -c "$f" | wc -c)
    printf '%-28s %12s %12s\n' "$(basename "$f")" "$raw" "$gz"
  done
} | tee "$out"
