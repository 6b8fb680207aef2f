"""The benchmark harness at its smoke size: every approach runs for real (the service binary,
the one-at-a-time program, migrate-mongo, the limit) on one small generated database each, into a
temporary directory. No timing is asserted: this keeps the harness working, and checks that every
approach reaches the same final database."""
import json
import os
import subprocess
import sys

import pytest

SOURCE = os.environ.get("TM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
BINARY = os.environ.get("TM_BINARY", os.path.join(SOURCE, "build/twigz-migrations"))
TOOLS = os.environ.get("TM_TOOLS_BIN", os.path.join(SOURCE, ".tools/bin"))
BENCH = os.path.join(SOURCE, "tests", "bench", "bench.py")
SMOKE_N = 200
APPROACHES = ["limit", "service", "one-at-a-time", "migrate-mongo"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """Runs the harness once: (exit code, results, report text, output)."""
    tmp = tmp_path_factory.mktemp("bench-smoke")
    out, work = tmp / "out", tmp / "work"
    cmd = [sys.executable, BENCH, "--smoke", "--sizes", str(SMOKE_N), "--out", str(out),
           "--binary", BINARY, "--tools", TOOLS, "--workdir", str(work)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=840)
    results_path = work / "bench-results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else None
    report_path = out / "benchmarks.md"
    report = report_path.read_text() if report_path.exists() else ""
    return p.returncode, results, report, p.stdout + p.stderr


def test_harness_exits_zero(smoke):
    code, _, _, output = smoke
    assert code == 0, output[-4000:]


def test_report_has_a_table_row_per_migration_for_the_smoke_size(smoke):
    _, _, report, output = smoke
    assert f"N = {SMOKE_N}" in report, output[-2000:]
    for name in ["addStatusToStores", "ensureStoreFields", "addUsernamesToCustomers",
                 "addPrivacyToCustomers", "**all four**"]:
        assert f"| {name} |" in report
    assert "service / limit" in report


def test_every_approach_ran_every_migration(smoke):
    _, results, _, output = smoke
    assert results, output[-2000:]
    assert results["skipped"] == {}
    run = results["runs"][0]
    assert sorted(run["approaches"]) == sorted(APPROACHES)
    for approach, out in run["approaches"].items():
        assert [m["migration"] for m in out["migrations"]] == [
            "addStatusToStores", "ensureStoreFields", "addUsernamesToCustomers", "addPrivacyToCustomers"], approach
        assert not any(m["capped"] for m in out["migrations"]), approach


def test_every_approach_reaches_the_limits_final_database(smoke):
    _, results, _, output = smoke
    assert results, output[-2000:]
    run = results["runs"][0]
    digests = {a: out.get("digest") for a, out in run["approaches"].items()}
    assert digests["limit"], output[-2000:]
    for approach, out in run["approaches"].items():
        assert out["reference"] == "limit"
        assert out["same_as_reference"], (approach, out.get("differences"))
    assert set(digests.values()) == {digests["limit"]}


def test_every_approach_changes_the_same_number_of_documents(smoke):
    _, results, _, output = smoke
    assert results, output[-2000:]
    run = results["runs"][0]
    docs = {a: [m["docs"] for m in out["migrations"]] for a, out in run["approaches"].items()}
    assert all(d == docs["limit"] for d in docs.values()), docs
    assert all(n > 0 for n in docs["limit"]), docs


def test_service_reports_peak_rss_and_database_commands(smoke):
    _, results, _, output = smoke
    assert results, output[-2000:]
    service = results["runs"][0]["approaches"]["service"]
    assert service["peak_rss_kb"] > 0
    assert service["counted_run_same"] is True
    assert sorted(service["commands"]) == sorted(
        ["addStatusToStores", "ensureStoreFields", "addUsernamesToCustomers", "addPrivacyToCustomers"])
    assert all(c["total"] > 0 for c in service["commands"].values()), service["commands"]
