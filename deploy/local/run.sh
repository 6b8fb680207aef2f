#!/usr/bin/env bash
# Builds everything and runs the service on 127.0.0.1:50051 (metrics on 127.0.0.1:9090): local by
# default, since a developer's machine has no business serving migrations to its network.
# TWIGZ_LISTEN / TWIGZ_METRICS_LISTEN or the flags (--listen 0.0.0.0:50051) open it up.
# Without MONGODB_URI it starts the embedded default first: FerretDB (SQLite backend, data in
# .local-data/ferretdb, loopback only) and points the service at it. Extra arguments go to the
# service (e.g. --log-level debug). Ctrl-C stops both.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/deploy/local/setup.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j"$(nproc)" --target twigz-migrations >/dev/null

ferret_pid=
cleanup() { [ -n "$ferret_pid" ] && kill "$ferret_pid" 2>/dev/null && wait "$ferret_pid" 2>/dev/null; true; }
trap cleanup EXIT

if [ -z "${MONGODB_URI:-}" ]; then
  data="$root/.local-data/ferretdb"
  mkdir -p "$data"
  # The conventional port when it is free, any free port otherwise.
  listen=127.0.0.1:27017
  if (exec 3<>/dev/tcp/127.0.0.1/27017) 2>/dev/null; then listen=127.0.0.1:0; fi
  # FerretDB's own log goes to a file: the terminal shows the service's JSON lines only.
  coproc FERRET { exec "$root/.tools/bin/twigz-ferretdb" --listen "$listen" --data-dir "$data" \
    2>>"$root/.local-data/ferretdb.log"; }
  ferret_pid=$FERRET_PID
  read -r word uri <&"${FERRET[0]}" || { echo "run: FerretDB did not start" >&2; exit 1; }
  [ "$word" = ready ] || { echo "run: FerretDB said: $word $uri" >&2; exit 1; }
  export MONGODB_URI=$uri
  echo "run: embedded FerretDB at $MONGODB_URI (data in $data, log in .local-data/ferretdb.log)" >&2
fi

export TWIGZ_LISTEN=${TWIGZ_LISTEN:-127.0.0.1:50051}
export TWIGZ_METRICS_LISTEN=${TWIGZ_METRICS_LISTEN-127.0.0.1:9090}
echo "run: gRPC on $TWIGZ_LISTEN, metrics on ${TWIGZ_METRICS_LISTEN:-off} unless flags say otherwise" \
  "(loopback by default: --listen 0.0.0.0:50051 to serve the network)" >&2
"$root/build/twigz-migrations" "$@" &
service_pid=$!
trap 'kill -TERM "$service_pid" 2>/dev/null' INT TERM
status=0
wait "$service_pid" || status=$?
# A trapped Ctrl-C interrupts that wait (status > 128); this one gets the service's own exit code.
if [ "$status" -gt 128 ]; then
  status=0
  wait "$service_pid" || status=$?
fi
exit "$status"
