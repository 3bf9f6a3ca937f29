#!/usr/bin/env bash
# Browser tests against the release build users run (scripts/build.sh; skipped with
# SKIP_BUILD=1 when the caller has just built it): prepares a fresh SQLite file with its own key file, an
# administrator and an API token, starts the real server on a free loopback port and runs
# Playwright in Debian's Chromium, with a local stand-in for the OAuth providers
# (end2end/fakes/provider.mjs) and a real SMTP server (end2end/fakes/smtp_server.py).
# Playwright stops them all at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${SKIP_BUILD:-}" != 1 ]; then scripts/build.sh; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
E2E_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
export E2E_PORT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
E2E_PROVIDER_PORT=$(free_port)
E2E_SMTP_PORT=$(free_port)
E2E_SMTP_CONTROL_PORT=$(free_port)
export E2E_PROVIDER_PORT E2E_SMTP_PORT E2E_SMTP_CONTROL_PORT
export E2E_DATABASE_URL="sqlite://$work/e2e.db"
export E2E_SITE_ROOT="$PWD/target/site"
export E2E_SERVER_CMD="$PWD/target/release/server"
export E2E_KEY_FILE="$work/secret.key"
export E2E_ADMIN_PASSWORD="e2e-admin-passphrase-$RANDOM$RANDOM"
# The token the specs seed settings with, as a script would (REST + bearer token).
E2E_API_TOKEN=$(DATABASE_URL="$E2E_DATABASE_URL" MAIL_SECRET_KEY_FILE="$E2E_KEY_FILE" RUST_LOG=warn \
  "$E2E_SERVER_CMD" token create --name e2e 2>/dev/null)
export E2E_API_TOKEN
cd end2end
npx playwright test "$@"
