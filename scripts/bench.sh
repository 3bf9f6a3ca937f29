#!/usr/bin/env bash
# Benchmark (not a test): notifications accepted per second through the REST API and delivered
# per second to Postfix's smtp-sink, on SQLite and on PostgreSQL, with SMTP connection pooling
# on and off, next to Postfix's own smtp-source against the same sink. Results: target/bench.txt.
# COUNT (4,000 by default) is large enough that the worker's first wake-up after the queue is
# released (up to its 50 ms idle) is a small share of the delivery time.
set -euo pipefail
cd "$(dirname "$0")/.."
NEED_BROWSER=0 scripts/setup.sh
if ! command -v /usr/sbin/smtp-sink >/dev/null 2>&1; then
  printf '\033[1m==> Installing Postfix (smtp-sink, smtp-source)\033[0m\n'
  export DEBIAN_FRONTEND=noninteractive
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq postfix
fi
# The same build settings as the tests (a different LEPTOS_OUTPUT_NAME rebuilds everything).
export LEPTOS_OUTPUT_NAME=mail-settings
COUNT=${COUNT:-4000}
cargo build --release -p server --example bench_notify
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
/usr/sbin/smtp-sink -u nobody "127.0.0.1:${port}" 256 &
sink=$!
# PostgreSQL: a throwaway cluster with durable commits (fsync on), as a real one.
pg_dir=$(mktemp -d)
postgres=$(scripts/postgres.sh start "${pg_dir}")
trap 'kill $sink 2>/dev/null || true; scripts/postgres.sh stop "${pg_dir}"; rm -rf "${pg_dir}"' EXIT
sleep 0.5
out=target/bench.txt
{
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, ${COUNT} notifications, release build"
  # Pool 8: as many sessions as smtp-source below; 4 is the default pool; 0 is no pooling.
  for pool in 8 4 0; do
    target/release/examples/bench_notify --smtp-port "$port" --count "$COUNT" --concurrency 8 --pool "$pool"
  done
  for pool in 8 4 0; do
    target/release/examples/bench_notify --smtp-port "$port" --count "$COUNT" --concurrency 8 --pool "$pool" \
      --postgres "$postgres"
  done
  start=$(date +%s.%N)
  /usr/sbin/smtp-source -s 8 -m "$COUNT" -f bench@example.co.jp -t ops@example.co.jp "127.0.0.1:${port}"
  end=$(date +%s.%N)
  python3 -c "print(f'smtp-source (Postfix, 8 sessions, reference) delivered_per_s={${COUNT}/(${end}-${start}):.0f}')"
} | tee "$out"
