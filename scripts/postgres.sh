#!/usr/bin/env bash
# A throw-away PostgreSQL server on loopback for the test suite.
#   scripts/postgres.sh start   install (Debian's postgresql) if needed, start, print the URL
#   scripts/postgres.sh stop
# The cluster lives in .cache/pg; it listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${VIDAUDIT_PG_PORT:-}
DIR="$PWD/.cache/pg"
DB=vidaudit_test
USER_NAME=vidaudit

find_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/postgres" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  done
  return 1
}

run_as_pg() {
  # PostgreSQL refuses to run as root; Debian's package creates the 'postgres' user.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  local bin
  if ! bin=$(find_bin); then
    echo "postgres.sh: installing postgresql from Debian's packages" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin=$(find_bin)
  fi
  mkdir -p "$DIR"
  if [ "$(id -u)" = 0 ]; then chown -R postgres: "$DIR"; fi
  if [ ! -f "$DIR/data/PG_VERSION" ]; then
    run_as_pg "$bin/initdb" -D "$DIR/data" -U postgres -A trust --no-sync -E UTF8 >/dev/null
  fi
  if run_as_pg "$bin/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    PORT=$(cat "$DIR/port")
  else
    # The first free port from 54329 (another checkout's test server may hold one).
    if [ -z "$PORT" ]; then
      PORT=54329
      while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do PORT=$((PORT + 1)); done
    fi
    # No autovacuum: tests create and drop a database each; a vacuum worker (a superuser
    # backend) inside one being dropped makes the test role's DROP ... WITH (FORCE) fail.
    run_as_pg "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c autovacuum=off" \
      >/dev/null
    echo "$PORT" >"$DIR/port"
  fi
  local psql=("$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -q -X)
  if ! "${psql[@]}" -tAc "select 1 from pg_roles where rolname='$USER_NAME'" | grep -q 1; then
    "${psql[@]}" -c "create role $USER_NAME login createdb"
  fi
  if ! "${psql[@]}" -tAc "select 1 from pg_database where datname='$DB'" | grep -q 1; then
    "${psql[@]}" -c "create database $DB owner $USER_NAME"
  fi
  echo "postgresql+psycopg://$USER_NAME@127.0.0.1:$PORT/$DB"
}

stop() {
  local bin
  bin=$(find_bin) || return 0
  if [ -f "$DIR/data/PG_VERSION" ]; then
    run_as_pg "$bin/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
