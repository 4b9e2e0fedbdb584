#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on 127.0.0.1 for the store's PostgreSQL tests and prints
# the URL. Usage: url=$(bash .ci/postgres.sh start DIR); bash .ci/postgres.sh stop DIR
set -euo pipefail
cmd=$1 dir=$2 port=${MATRIXGEN_TEST_PG_PORT:-54329}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
case "$cmd" in
  start)
    if [ -z "$bin" ]; then
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
      bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    fi
    mkdir -p "$dir" && chown postgres "$dir"
    # PostgreSQL refuses to run as root, hence the postgres user.
    su postgres -c "$bin/initdb -D '$dir/data' -A trust -U postgres" >/dev/null
    su postgres -c "$bin/pg_ctl -D '$dir/data' -l '$dir/log' -w -o \"-k '$dir' -p $port -c listen_addresses=127.0.0.1\" start" >/dev/null
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    su postgres -c "$bin/pg_ctl -D '$dir/data' -m fast stop" >/dev/null || true
    ;;
esac
