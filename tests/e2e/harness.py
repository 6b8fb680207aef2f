"""Real processes for end-to-end tests: FerretDB, the service binary, grpcurl and grpc-health-probe.

Everything here starts real programs on loopback and stops them; nothing is mocked.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import grpc

TOOLS = os.environ.get("TM_TOOLS_BIN", os.path.join(os.path.dirname(__file__), "../../.tools/bin"))
BINARY = os.environ.get("TM_BINARY", os.path.join(os.path.dirname(__file__), "../../build/twigz-migrations"))
SOURCE = os.environ.get("TM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.environ.get("TM_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
MIGRATECTL = os.path.join(BUILD, "clients", "migratectl", "migratectl")

# States in which a migration is held by a chain: claimed, running, or finishing its batch after a Cancel.
HELD = ("MIGRATION_STATE_QUEUED", "MIGRATION_STATE_RUNNING", "MIGRATION_STATE_CANCELING")


def env_without_twigz():
    """This process's environment without TWIGZ_* variables: each test says what it configures."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TWIGZ_")}


def ctl(*args, env=None, timeout=120):
    """Runs migratectl off a terminal; returns the CompletedProcess (text)."""
    full_env = env_without_twigz()
    full_env.update(env or {})
    return subprocess.run([MIGRATECTL, *args], capture_output=True, text=True, timeout=timeout, env=full_env)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class FerretDB:
    """A FerretDB on a fixed loopback port, so it can be stopped and started again at the same address."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "ferretdb")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/"
        self.proc = None

    def start(self):
        self.log = open(os.path.join(self.dir, "log"), "ab")
        self.proc = subprocess.Popen(
            [os.path.join(TOOLS, "twigz-ferretdb"), "--listen", f"127.0.0.1:{self.port}",
             "--data-dir", os.path.join(self.dir, "data")],
            stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        assert line.startswith("ready "), f"FerretDB did not start: {line!r}"
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None

    def client(self):
        import pymongo
        return pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=5000)

    persistent = True  # data survive stop() and start()


class MongoJava(FerretDB):
    """mongo-java-server (memory backend) on a fixed loopback port: the second, independent
    MongoDB implementation. Its data live in its heap, so stop() loses them."""

    persistent = False

    def __init__(self, workdir):
        super().__init__(workdir)
        self.dir = os.path.join(workdir, "mongo-java")
        os.makedirs(self.dir, exist_ok=True)

    def start(self):
        self.log = open(os.path.join(self.dir, "log"), "ab")
        self.proc = subprocess.Popen(
            [os.path.join(TOOLS, "twigz-mongo-java"), "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        assert line.startswith("ready "), f"mongo-java-server did not start: {line!r}"
        return self


# The server the migration suites run on: TM_TEST_SERVER=ferretdb (default) or mongo-java.
SERVER = os.environ.get("TM_TEST_SERVER", "ferretdb")


def DatabaseServer(workdir):
    """A database server of the kind this run tests (SERVER), not started yet."""
    return MongoJava(workdir) if SERVER == "mongo-java" else FerretDB(workdir)



class Proxy:
    """A TCP relay to a database that the test controls, to put a fault exactly where a test wants
    it: hold() stops relaying (bytes wait, connections stay open: a stalled batch), cut() closes
    every connection and drops new ones until restore() (an outage, as a restarted server or a lost
    network gives). delay (seconds) holds every reply back that long: a run through it lasts at
    least its round trips times delay, however fast the machine."""

    def __init__(self, upstream_port):
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.uri = f"mongodb://127.0.0.1:{self.port}/"
        self.relaying = threading.Event()
        self.relaying.set()
        self.lock = threading.Lock()
        self.sockets = set()
        self.dropping = False
        self.closed = False
        self.relayed = 0  # client-to-server chunks relayed
        self.delay = 0.0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.dropping:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets.update((client, server))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src, dst, to_server):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while not self.relaying.wait(0.05):
                    if src.fileno() < 0:
                        return
                if not to_server and self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
                if to_server:
                    self.relayed += 1
        except OSError:
            pass
        finally:
            self._close(src, dst)

    def _close(self, *socks):
        with self.lock:
            for s in socks:
                self.sockets.discard(s)
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def hold(self):
        self.relaying.clear()

    def cut(self):
        """Closes every connection and drops new ones; releases what hold() kept."""
        self.dropping = True
        with self.lock:
            socks = list(self.sockets)
        self._close(*socks)
        self.relaying.set()

    def restore(self):
        self.dropping = False
        self.relaying.set()

    def close(self):
        self.closed = True
        self.cut()
        self.listener.close()


class Service:
    """The real twigz-migrations binary on a free port; logs collected from stderr."""

    def __init__(self, workdir, mongodb_uri, *args, env=None, database="twigz"):
        self.logpath = os.path.join(workdir, f"service-{time.monotonic_ns()}.log")
        full_env = env_without_twigz()
        full_env.update({"MONGODB_URI": mongodb_uri, "MONGODB_DATABASE": database})
        full_env.update(env or {})
        self.args = [BINARY, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--threads", "2", *args]
        self.logfile = open(self.logpath, "wb")
        self.proc = subprocess.Popen(self.args, env=full_env, stdout=subprocess.DEVNULL, stderr=self.logfile)
        first = wait_until(lambda: self._listening_line(), 20, what="the service's listening line")
        entry = json.loads(first)
        self.address = entry["address"]
        self.metrics_address = entry.get("metrics")

    def _listening_line(self):
        """The "listening" line: the first at the default level; debug lines may precede it."""
        if self.proc.poll() is not None:
            raise AssertionError(f"service exited {self.proc.returncode}: {self.logs()}")
        with open(self.logpath) as f:
            for line in f:
                if not line.endswith("\n"):
                    return None
                entry = json.loads(line)
                if entry["msg"] == "twigz-migrations listening":
                    return line
                assert entry["level"] == "debug", line
        return None

    def metrics(self):
        """Scrapes /metrics and parses it with prometheus_client's text parser: {(name, labels): value}."""
        import urllib.request
        from prometheus_client.parser import text_string_to_metric_families
        with urllib.request.urlopen(f"http://{self.metrics_address}/metrics", timeout=10) as r:
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            body = r.read().decode()
        out = {}
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return out

    def logs(self):
        with open(self.logpath) as f:
            return f.read()

    def log_entries(self):
        return [json.loads(line) for line in self.logs().splitlines() if line.startswith("{")]

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=timeout)
        return self.proc.returncode


def grpcurl(address, method=None, data=None, *extra, plaintext=True, timeout=60):
    """Runs grpcurl; returns (exit code, stdout, stderr)."""
    cmd = [os.path.join(TOOLS, "grpcurl")]
    if plaintext:
        cmd.append("-plaintext")
    cmd += list(extra)
    if data is not None:
        cmd += ["-d", json.dumps(data) if not isinstance(data, str) else data]
    cmd.append(address)
    if method:
        cmd += method.split(" ")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def call(address, method, data=None, *extra, **kw):
    """A MigrationService call that must succeed; returns the decoded JSON response."""
    rc, out, err = grpcurl(address, f"twigz.migrations.v1.MigrationService/{method}", data or {}, *extra, **kw)
    assert rc == 0, f"{method} failed ({rc}): {err}"
    return json.loads(out)


def health_probe(address, *extra, service=None):
    cmd = [os.path.join(TOOLS, "grpc-health-probe"), "-addr", address, *extra]
    if service is not None:
        cmd += ["-service", service]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def hammer(address, path, keep_going, codes, lock):
    """Calls path with an empty request on one channel while keep_going() holds, counting each
    outcome's code name into codes (a dict shared under lock)."""
    with grpc.insecure_channel(address) as channel:
        method = channel.unary_unary(path)
        while keep_going():
            try:
                method(b"", timeout=10)
                code = "OK"
            except grpc.RpcError as e:
                code = e.code().name
            with lock:
                codes[code] = codes.get(code, 0) + 1


def make_certificates(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all made with openssl."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=twigz-test-ca",
        "-keyout", "ca.key", "-out", "ca.pem")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"), ("client", "extendedKeyUsage=clientAuth")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr")
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(ext + "\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem")
    return {n: os.path.join(d, n) for n in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}
