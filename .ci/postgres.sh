#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server when the machine has one installed, and prints its
# SQLAlchemy URL; prints nothing (and never fails) otherwise. Used by .ci/run so that the store
# contract tests also run against PostgreSQL.
{
  command -v initdb >/dev/null && command -v pg_ctl >/dev/null || exit 0
  dir=$(mktemp -d /tmp/pf-pg.XXXXXX)
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') || exit 0
  runas=()
  if [ "$(id -u)" = 0 ]; then
    id -u pfpg >/dev/null 2>&1 || useradd -M pfpg || exit 0
    chown pfpg "$dir"
    runas=(su pfpg -s /bin/bash -c)
  else
    runas=(bash -c)
  fi
  "${runas[@]}" "initdb -D $dir/data -U postgres -A trust >/dev/null 2>&1 && pg_ctl -D $dir/data -o '-p $port -k $dir' -l $dir/log -w start >/dev/null 2>&1" || exit 0
  psql -h "$dir" -p "$port" -U postgres -c "create database pftest;" >/dev/null 2>&1 || exit 0
  echo "postgresql+psycopg://postgres@/pftest?host=$dir&port=$port"
} 2>/dev/null || true
