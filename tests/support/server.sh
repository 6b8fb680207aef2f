#!/usr/bin/env bash
# Starts or stops a database server that integration tests share (ctest fixture): FerretDB, or
# mongo-java-server. The server prints "ready URI" on stdout once it listens.
#   server.sh start DIR BINARY [ARGS...]  - a fresh DIR (DIR/data for the server's files), a free
#                                           loopback port, the URI in DIR/uri
#   server.sh stop DIR
set -euo pipefail
cmd=$1 dir=$2
case "$cmd" in
start)
  bin=$3
  shift 3
  [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true
  rm -rf "$dir" && mkdir -p "$dir/data"
  "$bin" --listen 127.0.0.1:0 "$@" >"$dir/out" 2>"$dir/log" &
  echo $! >"$dir/pid"
  for _ in $(seq 1 600); do
    if grep -q '^ready ' "$dir/out" 2>/dev/null; then
      sed -n 's/^ready //p' "$dir/out" | head -n1 >"$dir/uri"
      echo "$(basename "$bin") at $(cat "$dir/uri")"
      exit 0
    fi
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || { cat "$dir/log" >&2; exit 1; }
    sleep 0.1
  done
  echo "$(basename "$bin") did not start in 60 s" >&2
  cat "$dir/log" >&2
  exit 1
  ;;
stop)
  [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true
  rm -f "$dir/pid"
  ;;
*) echo "usage: $0 start DIR BINARY [ARGS...] | stop DIR" >&2; exit 64 ;;
esac
