#!/usr/bin/env bash
# Builds the libFuzzer harnesses (build.sh) and runs each for N seconds, one after another.
#   tests/fuzz/run.sh [--seconds N] [--out DIR] [--only HARNESS]   (defaults: 15 s each, build/fuzz)
# CI runs 15 s each (60 s in all, tests/e2e/test_fuzz_smoke.py); the long local run is
# --seconds 450 (30 minutes in all). Each harness starts from its committed seeds
# (tests/fuzz/corpus/<harness>) plus what earlier runs in DIR found (DIR/corpus/<harness>, where new
# inputs go). Crashing inputs are saved as DIR/artifacts/<harness>-crash-*; logs in DIR/logs.
# Prints one line per harness and writes DIR/summary.tsv; exits 1 when any harness failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=15
out="$root/build/fuzz"
only=""
while [ $# -gt 0 ]; do
  case $1 in
  --seconds) seconds=$2; shift 2 ;;
  --out) out=$2; shift 2 ;;
  --only) only=$2; shift 2 ;;
  *) echo "usage: $0 [--seconds N] [--out DIR] [--only HARNESS]" >&2; exit 64 ;;
  esac
done
case $seconds in '' | *[!0-9]* | 0) echo "run.sh: --seconds wants a positive integer" >&2; exit 64 ;; esac

"$here/build.sh" --out "$out"
out=$(cd "$out" && pwd)
mkdir -p "$out/logs" "$out/artifacts"
summary="$out/summary.tsv"
printf 'harness\tseconds\texecutions\texec_per_s\tcoverage\tfeatures\tcorpus\tcrashed\n' >"$summary"
failed=0
for bin in "$out"/bin/fuzz_*; do
  name=$(basename "$bin")
  [ -z "$only" ] || [ "$name" = "$only" ] || continue
  corpus="$out/corpus/$name"
  mkdir -p "$corpus"
  log="$out/logs/$name.log"
  opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$out/artifacts/$name-")
  [ -f "$here/$name.dict" ] && opts+=(-dict="$here/$name.dict")
  rc=0
  "$bin" "${opts[@]}" "$corpus" "$here/corpus/$name" >"$log" 2>&1 || rc=$?
  # libFuzzer's last status line ("#N DONE cov: C ft: F corp: U/Sb ...") and its final stats.
  status=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  field() { sed -n "s/.*$1 \\([0-9]*\\).*/\\1/p" <<<"$status"; }
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(field cov:)
  ft=$(field ft:)
  units=$(sed -n 's/.*corp: \([0-9]*\)\/.*/\1/p' <<<"$status")
  crashed=no
  if [ "$rc" -ne 0 ]; then
    crashed=yes
    failed=1
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$seconds" "${execs:-0}" "${rate:-0}" "${cov:-0}" \
    "${ft:-0}" "${units:-0}" "$crashed" >>"$summary"
  printf 'run.sh: %-22s %10s executions %8s/s  cov %-5s ft %-6s corpus %-5s %s\n' "$name" \
    "${execs:-0}" "${rate:-0}" "${cov:-0}" "${ft:-0}" "${units:-0}" \
    "$([ $crashed = yes ] && echo "FAILED (exit $rc, see $log)" || echo ok)"
  if [ $crashed = yes ]; then
    grep -E 'invariant broken|ERROR: |SUMMARY: |Test unit written' "$log" | head -5 | sed 's/^/    /'
  fi
done
exit $failed
