#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1, for the store's PostgreSQL tests.
#
#   .ci/services/postgres.sh start DIR   prints NAME=VALUE lines for the tests' environment and
#                                        exits 0; or says why it could not start (with the
#                                        server's log) on stderr and exits 1
#   .ci/services/postgres.sh stop DIR
#
# Every script in .ci/services/ keeps this contract; .ci/run starts each one in its own private
# folder DIR (mktemp -d) and stops it at the end. Overrides, to test the failure path:
# MATRIXGEN_CI_PG_BIN (the folder of initdb and pg_ctl) and MATRIXGEN_CI_PG_PORT.
set -euo pipefail
cmd=${1:?usage: postgres.sh start|stop DIR}
dir=${2:?usage: postgres.sh start|stop DIR}

newest_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# PostgreSQL refuses to run as root, hence its own user when we are root.
as_server() {
  # From /: the postgres user may not enter the folder this was started in.
  if [ "$(id -u)" = 0 ]; then (cd / && su -s /bin/sh -c 'exec "$0" "$@"' -- postgres "$@"); else "$@"; fi
}

# fail WHY [LOG...]: the reason, then each log in full.
fail() {
  echo "postgres: $1" >&2
  shift
  for log in "$@"; do
    if [ -s "$log" ]; then echo "--- $log" >&2; cat "$log" >&2; fi
  done
  exit 1
}

case "$cmd" in
  start)
    bin=${MATRIXGEN_CI_PG_BIN:-$(newest_bin)}
    if [ -z "$bin" ]; then
      [ "$(id -u)" = 0 ] || fail "not installed, and only root can install it (apt-get install postgresql)"
      echo "postgres: installing it from Debian" >&2
      apt-get update -qq >&2 || fail "apt-get update failed"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2 \
        || fail "apt-get install postgresql failed"
      bin=$(newest_bin)
    fi
    [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] || fail "no initdb and pg_ctl in $bin"
    port=${MATRIXGEN_CI_PG_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi  # still private: 0700, now the server's
    as_server "$bin/initdb" -D "$dir/data" -A trust -U postgres >"$dir/initdb.log" 2>&1 \
      || fail "initdb failed" "$dir/initdb.log"
    as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-k '$dir' -p $port -c listen_addresses=127.0.0.1" start >"$dir/pg_ctl.log" 2>&1 \
      || fail "the server did not start on port $port" "$dir/pg_ctl.log" "$dir/server.log"
    echo "MATRIXGEN_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    bin=${MATRIXGEN_CI_PG_BIN:-$(newest_bin)}
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_server "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    fi
    ;;
  *)
    echo "usage: postgres.sh start|stop DIR" >&2
    exit 2
    ;;
esac
