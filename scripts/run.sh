#!/usr/bin/env bash
# Runs the product on its embedded default (SQLite file under data/, created on first run).
# Builds first and stops with the build's error if that fails; the server it then runs is the
# release binary the tests prove (`cargo leptos serve` would report success after a failed
# build, so it is not used).
set -euo pipefail
cd "$(dirname "$0")/.."
NEED_BROWSER=0 scripts/setup.sh
scripts/build.sh
exec target/release/server
