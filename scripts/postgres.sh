#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests and the bench, on 127.0.0.1 and a free port:
#   scripts/postgres.sh start DIR   -> initdb in DIR, start it, print its URL (postgres://…)
#   scripts/postgres.sh stop DIR    -> stop it (the caller removes DIR)
# Debian's server binaries (package `postgresql`, installed by scripts/setup.sh). initdb refuses
# to run as root, so as root the cluster belongs to the `postgres` user. PG_FSYNC=off trades
# crash safety for speed (the tests' databases are thrown away); the bench keeps it on.
set -euo pipefail
cmd=${1:?start or stop}
dir=${2:?a directory for the cluster}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "${bin}" ] || [ ! -x "${bin}/initdb" ]; then
  echo "PostgreSQL server binaries not found under /usr/lib/postgresql (run scripts/setup.sh)" >&2
  exit 1
fi
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "${cmd}" in
  start)
    mkdir -p "${dir}"
    [ "$(id -u)" = 0 ] && chown postgres: "${dir}"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "${bin}/initdb" -D "${dir}/data" -U postgres -A trust -E UTF8 --no-sync >"${dir}/initdb.log" 2>&1 \
      || { cat "${dir}/initdb.log" >&2; exit 1; }
    as_owner "${bin}/pg_ctl" -D "${dir}/data" -l "${dir}/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=${PG_FSYNC:-on} -c max_connections=300" \
      >/dev/null || { cat "${dir}/server.log" >&2; exit 1; }
    echo "postgres://postgres@127.0.0.1:${port}"
    ;;
  stop)
    if [ -d "${dir}/data" ]; then
      as_owner "${bin}/pg_ctl" -D "${dir}/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
