"""CI's short fuzzing run: tests/fuzz/run.sh builds the libFuzzer harnesses with clang
(-fsanitize=fuzzer,address,undefined) and runs each for 15 s, 60 s in all. Every harness must run
without a crash, a sanitizer report or a broken invariant. The long run (30 minutes) is the same
script with --seconds 450; docs/reliability.md has its figures."""
import csv
import os
import shutil
import subprocess

import pytest

from harness import SOURCE

HARNESSES = ("fuzz_reflection", "fuzz_reflection_index", "fuzz_request", "fuzz_username")
SECONDS_EACH = 15


@pytest.fixture(scope="module")
def fuzz_run():
    """Runs every harness once for the module; yields (summary rows by harness, run.sh's output)."""
    if not shutil.which("clang"):
        pytest.fail("clang is missing: deploy/local/setup.sh installs clang and libclang-rt-14-dev")
    build = os.environ.get("TM_BUILD_DIR", os.path.join(SOURCE, "build"))
    out = os.path.join(build, "fuzz")
    p = subprocess.run([os.path.join(SOURCE, "tests/fuzz/run.sh"), "--seconds", str(SECONDS_EACH), "--out", out],
                       capture_output=True, text=True, timeout=900)
    output = p.stdout + p.stderr
    summary = os.path.join(out, "summary.tsv")
    assert os.path.exists(summary), output[-4000:]
    with open(summary) as f:
        rows = {r["harness"]: r for r in csv.DictReader(f, delimiter="\t")}
    yield rows, output


def test_every_harness_was_built_and_ran(fuzz_run):
    rows, output = fuzz_run
    assert sorted(rows) == sorted(HARNESSES), output[-4000:]


@pytest.mark.parametrize("harness", HARNESSES)
def test_the_harness_runs_without_a_crash(fuzz_run, harness):
    rows, output = fuzz_run
    row = rows.get(harness)
    assert row is not None, output[-4000:]
    assert row["crashed"] == "no", f"{harness} failed:\n{output[-4000:]}"
    # A harness that exits at once (a broken build, a check failing on every input) would pass
    # unnoticed without a floor on the work done.
    assert int(row["executions"]) >= 1000, row
    assert int(row["coverage"]) > 0, row
