#!/usr/bin/env bash
# The one command behind docs/benchmarks.md: builds the service (RelWithDebInfo) in build-bench,
# installs what the harness needs, and runs every approach at every size, writing docs/.
#
#   tests/bench/run.sh [--sizes 10000,100000] [--postgres] [--rpc] [--slow-cap S] ...
#
# Every option goes to tests/bench/bench.py (see its --help); --sizes 10000,100000,1000000 adds the
# million (about an hour more on 2 cores). --postgres also runs everything on FerretDB over a
# throwaway PostgreSQL cluster (Debian's postgresql package; as root the cluster runs as the
# postgres user). Raw results stay in build-bench/bench-work/bench-results.json (TM_BENCH_WORK: elsewhere);
# bench.py --out docs --report-only A.json B.json writes the report again from one or more runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${TM_BENCH_BUILD:-$root/build-bench}
work=${TM_BENCH_WORK:-$build/bench-work}
log() { printf 'bench: %s\n' "$*" >&2; }

"$root/deploy/local/setup.sh"
if [[ " $* " == *" --postgres "* ]] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  log "installing PostgreSQL for --postgres"
  apt-get install -y -qq postgresql >/dev/null
fi
python3 -c 'import matplotlib' 2>/dev/null ||
  python3 -m pip install -q --disable-pip-version-check -r "$root/tests/bench/requirements.txt" ||
  python3 -m pip install -q --break-system-packages -r "$root/tests/bench/requirements.txt"
[ -x "$root/tests/bench/migrate-mongo/node_modules/.bin/migrate-mongo" ] ||
  (cd "$root/tests/bench/migrate-mongo" && npm ci --no-audit --no-fund --silent)

log "building the service (RelWithDebInfo) in $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target twigz-migrations >/dev/null

mkdir -p "$work"
exec python3 "$root/tests/bench/bench.py" --out "$root/docs" --binary "$build/twigz-migrations" \
  --tools "$root/.tools/bin" --workdir "$work" --command "tests/bench/run.sh $*" "$@"
