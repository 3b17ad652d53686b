#!/usr/bin/env bash
# Starts (or stops) a throwaway PostgreSQL server on loopback for the
# service's tests: a fresh cluster in a temp dir, trust auth on 127.0.0.1,
# port $PGPORT (default 54329). Prints the server URL (no database name).
#   scripts/pg-test-server.sh start | stop
# For the storage-fault tests: `crash` stops the server at once (SIGQUIT to
# every backend, like a machine losing the server), keeping its data;
# `restart` starts it again on that data.
# With PGTLS_CERT and PGTLS_KEY (PEM files) at `start`, the server also speaks
# TLS (`ssl = on`) with that certificate, and keeps doing so on `restart`;
# plain connections are still accepted, so clients choose with `sslmode`.
set -euo pipefail
PGPORT="${PGPORT:-54329}"
PGDATA="${PGDATA_DIR:-/tmp/wallet-backup-pg-$PGPORT}"
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-start}" in
  start)
    if ! as_pg "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
      rm -rf "$PGDATA"; mkdir -p "$PGDATA"
      [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$PGDATA"
      as_pg "$BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 >/dev/null
      if [ -n "${PGTLS_CERT:-}" ]; then
        # PostgreSQL refuses a key file that its group or others can read.
        install -m 0600 "$PGTLS_CERT" "$PGDATA/server.crt"
        install -m 0600 "$PGTLS_KEY" "$PGDATA/server.key"
        [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$PGDATA/server.crt" "$PGDATA/server.key"
        echo "ssl = on" >> "$PGDATA/postgresql.conf"
      fi
      as_pg "$BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w \
        -o "-h 127.0.0.1 -p $PGPORT -k $PGDATA -c fsync=on -c synchronous_commit=on" start >/dev/null
    fi
    # The server URL, no database name: each test creates its own database.
    echo "postgres://postgres@127.0.0.1:$PGPORT"
    ;;
  stop)
    as_pg "$BIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$PGDATA"
    ;;
  crash)
    as_pg "$BIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null
    ;;
  restart)
    as_pg "$BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w \
      -o "-h 127.0.0.1 -p $PGPORT -k $PGDATA -c fsync=on -c synchronous_commit=on" start >/dev/null
    ;;
  *) echo "usage: $0 start|stop|crash|restart" >&2; exit 2 ;;
esac
