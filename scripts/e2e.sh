#!/usr/bin/env bash
# Browser tests: builds the site (debug), starts the real server on a free loopback port with a
# fresh SQLite file, runs Playwright in Debian's Chromium. Playwright stops the server at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo leptos build
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
E2E_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
export E2E_PORT
export E2E_DATABASE_URL="sqlite://$work/e2e.db"
export E2E_SITE_ROOT="$PWD/target/site"
export E2E_SERVER_CMD="$PWD/target/debug/server"
cd end2end
npx playwright test "$@"
