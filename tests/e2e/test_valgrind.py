"""valgrind memcheck over an end-to-end session of the real binary: no definite leak, no error.
Skipped for sanitizer builds (ASan and valgrind exclude each other) and where valgrind is absent."""
import json
import os
import shutil
import signal
import subprocess

import pytest

import seed
from harness import BINARY, grpcurl, health_probe, wait_until

SERVICE = "twigz.migrations.v1.MigrationService/"


def sanitized(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    return "libasan" in out or "libubsan" in out


@pytest.mark.skipif(not shutil.which("valgrind"), reason="valgrind is not installed")
@pytest.mark.skipif(sanitized(BINARY), reason="sanitizer build")
def test_memcheck_finds_no_leak_and_no_error_over_a_session(ferret, workdir):
    client = ferret.client()
    db = client["e2e_valgrind"]
    client.drop_database(db.name)
    seed.load(db, seed.stores(40), seed.customers(40))
    log_path = os.path.join(workdir, "valgrind.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite", "--error-exitcode=99",
             BINARY, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--mongodb-uri", ferret.uri,
             "--database", db.name, "--threads", "2"], stderr=log)

    def address():
        with open(log_path) as f:
            for line in f:
                if "twigz-migrations listening" in line:
                    return json.loads(line[line.index("{"):])["address"]
    addr = wait_until(address, 120, 0.5, "the service under valgrind")
    assert grpcurl(addr, "list")[0] == 0
    assert grpcurl(addr, SERVICE + "List", {})[0] == 0
    assert grpcurl(addr, SERVICE + "Status", {"includePending": True})[0] == 0
    assert grpcurl(addr, SERVICE + "Run", {"dryRun": True}, timeout=300)[0] == 0
    assert grpcurl(addr, SERVICE + "Run", {"batchSize": 10}, timeout=600)[0] == 0
    assert grpcurl(addr, SERVICE + "Run", {"names": ["nope"]})[0] == 64 + 3
    assert grpcurl(addr, SERVICE + "Cancel", {"name": "addStatusToStores"})[0] == 64 + 9
    assert health_probe(addr)[0] == 0
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=300) == 0, open(log_path).read()[-3000:]
    summary = open(log_path).read()
    assert "definitely lost: 0 bytes in 0 blocks" in summary or "All heap blocks were freed" in summary, summary[-3000:]
    assert "ERROR SUMMARY: 0 errors" in summary, summary[-3000:]
    client.close()
