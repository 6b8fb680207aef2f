"""The benchmark harness at its smoke size: every approach runs for real (the service binary,
the one-at-a-time program, migrate-mongo, the limit) on one small generated database each, into a
temporary directory, on the embedded default (FerretDB on SQLite) and on mongo-java-server. No timing
is asserted: this keeps the harness working, and checks that every approach reaches the same final
database on each server, and that both servers reach the same one."""
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
           "--binary", BINARY, "--tools", TOOLS, "--workdir", str(work), "--mongo-java"]
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


def runs(smoke):
    _, results, _, output = smoke
    assert results, output[-2000:]
    assert [r["backend"] for r in results["runs"]] == ["sqlite", "mongo-java"], output[-2000:]
    return results["runs"]


def test_every_approach_ran_every_migration(smoke):
    assert smoke[1]["skipped"] == {}
    for run in runs(smoke):
        assert sorted(run["approaches"]) == sorted(APPROACHES)
        for approach, out in run["approaches"].items():
            assert [m["migration"] for m in out["migrations"]] == [
                "addStatusToStores", "ensureStoreFields", "addUsernamesToCustomers", "addPrivacyToCustomers"], \
                (run["backend"], approach)
            assert not any(m["capped"] for m in out["migrations"]), (run["backend"], approach)


def test_every_approach_reaches_the_limits_final_database(smoke):
    for run in runs(smoke):
        digests = {a: out.get("digest") for a, out in run["approaches"].items()}
        assert digests["limit"], run["backend"]
        for approach, out in run["approaches"].items():
            assert out["reference"] == "limit"
            assert out["same_as_reference"], (run["backend"], approach, out.get("differences"))
        assert set(digests.values()) == {digests["limit"]}, run["backend"]


def test_both_servers_reach_the_same_final_database(smoke):
    """Every stores and customers document byte for byte (field order included) and their indexes."""
    sqlite, mongo_java = runs(smoke)
    assert sqlite["approaches"]["service"]["digest"] == mongo_java["approaches"]["service"]["digest"]
    assert f"N = {SMOKE_N}: the service's final databases on" in smoke[2]
    assert "are identical, byte for byte" in smoke[2]


def test_every_approach_changes_the_same_number_of_documents(smoke):
    for run in runs(smoke):
        docs = {a: [m["docs"] for m in out["migrations"]] for a, out in run["approaches"].items()}
        assert all(d == docs["limit"] for d in docs.values()), (run["backend"], docs)
        assert all(n > 0 for n in docs["limit"]), (run["backend"], docs)


def test_service_reports_peak_rss_and_database_commands(smoke):
    for run in runs(smoke):
        service = run["approaches"]["service"]
        assert service["peak_rss_kb"] > 0
        assert service["counted_run_same"] is True
        assert sorted(service["commands"]) == sorted(
            ["addStatusToStores", "ensureStoreFields", "addUsernamesToCustomers", "addPrivacyToCustomers"])
        assert all(c["total"] > 0 for c in service["commands"].values()), service["commands"]
    assert "per 1,000 documents" in smoke[2]
