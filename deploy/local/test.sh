#!/usr/bin/env bash
# Runs the whole test suite twice: a normal build, then AddressSanitizer + UndefinedBehaviorSanitizer.
# Installs what is missing first (deploy/local/setup.sh). Every test runs through ctest; the FerretDB
# the tests need is started by the tests themselves.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/deploy/local/setup.sh"
jobs=$(nproc)

run_suite() { # build dir, extra cmake args...
  local dir=$1; shift
  cmake -S "$root" -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 900)
}

echo "== tests: release build =="
run_suite "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "== tests: AddressSanitizer + UndefinedBehaviorSanitizer =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DTM_SANITIZE=ON
