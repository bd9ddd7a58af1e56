#!/usr/bin/env bash
# Make sure a PostgreSQL server the tests can use is running; print its admin URL.
#
# 1. CALLPATH_TEST_PG_URL (or postgresql://postgres@127.0.0.1:5432/postgres) answers: use it.
# 2. A Debian cluster exists but is stopped: start it (pg_ctlcluster) and try again.
# 3. Otherwise install Debian's `postgresql` and start a throwaway cluster of our own
#    (trust authentication, 127.0.0.1 only, data under ${TMPDIR:-/tmp}) on a free port.
# Progress goes to stderr; stdout carries only the URL, for the Makefile.
set -euo pipefail

log() { echo "ensure-postgres: $*" >&2; }

url="${CALLPATH_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"

answers() {
  command -v psql >/dev/null 2>&1 && psql "$1" -qAtc 'SELECT 1' >/dev/null 2>&1
}

if answers "$url"; then
  echo "$url"
  exit 0
fi

if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql/*/main >/dev/null 2>&1; then
  for version in $(ls /etc/postgresql); do
    log "starting the Debian cluster $version/main"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 2>&1 || true
  done
  for _ in $(seq 1 30); do
    if answers "$url"; then
      echo "$url"
      exit 0
    fi
    sleep 0.5
  done
fi

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  log "installing Debian's postgresql"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi

bindir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
data="${TMPDIR:-/tmp}/callpath-pg"
port=55432
run_as=()
if [ "$(id -u)" = 0 ]; then
  run_as=(runuser -u postgres --)  # initdb and postgres refuse to run as root
fi
if [ ! -s "$data/PG_VERSION" ]; then
  log "creating a throwaway cluster in $data"
  mkdir -p "$data"
  [ "$(id -u)" = 0 ] && chown postgres: "$data"
  "${run_as[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >&2
fi
if ! "${run_as[@]}" "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  log "starting the throwaway cluster on 127.0.0.1:$port"
  "${run_as[@]}" "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $data -c max_connections=200" \
    start >&2
fi
url="postgresql://postgres@127.0.0.1:$port/postgres"
answers "$url" || { log "PostgreSQL did not come up"; exit 1; }
echo "$url"
