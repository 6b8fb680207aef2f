#!/usr/bin/env bash
# Starts or stops the FerretDB that integration tests share (ctest fixture).
#   ferretdb.sh start DIR BINARY   - fresh SQLite data in DIR/data, a free loopback port, URI in DIR/uri
#   ferretdb.sh stop DIR
set -euo pipefail
cmd=$1 dir=$2
case "$cmd" in
start)
  bin=$3
  [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true
  rm -rf "$dir" && mkdir -p "$dir/data"
  "$bin" --listen 127.0.0.1:0 --data-dir "$dir/data" >"$dir/out" 2>"$dir/log" &
  echo $! >"$dir/pid"
  for _ in $(seq 1 300); do
    if grep -q '^ready ' "$dir/out" 2>/dev/null; then
      sed -n 's/^ready //p' "$dir/out" | head -n1 >"$dir/uri"
      echo "FerretDB at $(cat "$dir/uri")"
      exit 0
    fi
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || { cat "$dir/log" >&2; exit 1; }
    sleep 0.1
  done
  echo "FerretDB did not start in 30 s" >&2
  cat "$dir/log" >&2
  exit 1
  ;;
stop)
  [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true
  rm -f "$dir/pid"
  ;;
*) echo "usage: $0 start DIR BINARY | stop DIR" >&2; exit 64 ;;
esac
