"""deploy/local/run.sh, the README's first command: the service on its embedded default, local by
default (gRPC and metrics on loopback), saying so."""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from harness import SOURCE, grpcurl


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_run_sh_serves_the_embedded_default_on_loopback_only(tmp_path):
    if not (port_free(50051) and port_free(9090)):
        pytest.skip("run.sh's default ports 50051 and 9090 are taken on this machine")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIGZ_") and k != "MONGODB_URI"}
    err_path = tmp_path / "stderr"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([os.path.join(SOURCE, "deploy/local/run.sh")], env=env,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        deadline = time.monotonic() + 600  # a first build may run
        listening = None
        while listening is None and time.monotonic() < deadline:
            assert proc.poll() is None, err_path.read_text()
            for line in err_path.read_text().splitlines(keepends=True):
                if not line.endswith("\n") or not line.startswith("{"):
                    continue  # a line still being written, or run.sh's own
                if json.loads(line)["msg"] == "twigz-migrations listening":
                    listening = json.loads(line)
            time.sleep(0.2)
        assert listening, "run.sh did not start the service"
        text = err_path.read_text()
        assert listening["address"] == "127.0.0.1:50051", listening
        assert listening["metrics"] == "127.0.0.1:9090", listening
        assert "loopback by default" in text and "embedded FerretDB at mongodb://127.0.0.1:" in text
        rc, out, stderr = grpcurl("127.0.0.1:50051", "twigz.migrations.v1.MigrationService/List", {})
        assert rc == 0 and "addStatusToStores" in out, stderr
        # The machine's other addresses do not reach it.
        others = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
        for ip in [a for a in others if ":" not in a and not a.startswith("127.")][:2]:
            for port in (50051, 9090):
                with socket.socket() as s:
                    s.settimeout(2)
                    assert s.connect_ex((ip, port)) != 0, f"{ip}:{port} answers"
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0, err_path.read_text()[-2000:]
