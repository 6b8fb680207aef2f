"""The processes a benchmark run needs: FerretDB (SQLite, or PostgreSQL from a throwaway cluster),
mongo-java-server (in memory) and the service binary. Each is started on loopback and stopped by the object that started it."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


class Postgres:
    """A throwaway PostgreSQL cluster (Debian's postgresql package) in workdir, on a free port.

    initdb refuses to run as root, so as root the cluster belongs to the postgres user (runuser)."""

    def __init__(self, workdir, bindir=None):
        self.bindir = bindir or self._find_bindir()
        self.dir = os.path.join(workdir, "postgres")
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/ferretdb"

    @staticmethod
    def _find_bindir():
        root = "/usr/lib/postgresql"
        versions = sorted(os.listdir(root), key=lambda v: int(v) if v.isdigit() else 0) if os.path.isdir(root) else []
        for v in reversed(versions):
            if os.path.exists(os.path.join(root, v, "bin", "initdb")):
                return os.path.join(root, v, "bin")
        raise RuntimeError("PostgreSQL not found: apt-get install postgresql")

    def _run(self, *cmd):
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(prefix + list(cmd), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            # mkdtemp's 0700 would keep the postgres user out of its own cluster's directory.
            os.chmod(os.path.dirname(self.dir), 0o755)
        data = os.path.join(self.dir, "data")
        self._run(os.path.join(self.bindir, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
                  "-E", "UTF8")
        # Settings a small production instance would have; durability left on (fsync, full commits).
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c shared_buffers=512MB "
                "-c max_connections=200")
        self._run(os.path.join(self.bindir, "pg_ctl"), "-D", data, "-l", os.path.join(self.dir, "log"),
                  "-o", opts, "-w", "start")
        self._run(os.path.join(self.bindir, "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "postgres", "ferretdb")
        return self

    def stop(self):
        try:
            self._run(os.path.join(self.bindir, "pg_ctl"), "-D", os.path.join(self.dir, "data"),
                      "-m", "fast", "-w", "stop")
        except subprocess.CalledProcessError:
            pass


class DatabaseServer:
    """A launcher that prints "ready mongodb://HOST:PORT/" once it listens (twigz-ferretdb,
    twigz-mongo-java), on a free loopback port; `backend` names it in the results."""
    backend = None

    def __init__(self, workdir, name):
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.proc = None

    def command(self):
        raise NotImplementedError

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("ready "):
            raise RuntimeError(f"{self.backend} did not start: {line!r}; see {self.log_path}")
        self.uri = line.split(" ", 1)[1].strip()
        hostport = self.uri.split("//", 1)[1].split("/", 1)[0]
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class FerretDB(DatabaseServer):
    """FerretDB (.tools/bin/twigz-ferretdb), SQLite in workdir unless a PostgreSQL URL is given:
    the launcher exactly as deploy/local/run.sh starts it."""

    def __init__(self, binary, workdir, postgresql_url=None):
        super().__init__(workdir, "ferretdb")
        self.binary = binary
        self.data_dir = os.path.join(workdir, "ferretdb-data")
        self.postgresql_url = postgresql_url

    @property
    def backend(self):
        return "postgresql" if self.postgresql_url else "sqlite"

    def command(self):
        args = [self.binary, "--listen", "127.0.0.1:0"]
        if self.postgresql_url:
            return args + ["--postgresql-url", self.postgresql_url]
        os.makedirs(self.data_dir, exist_ok=True)
        return args + ["--data-dir", self.data_dir]


class MongoJava(DatabaseServer):
    """mongo-java-server 1.47.0 with its memory backend (.tools/bin/twigz-mongo-java)."""
    backend = "mongo-java"

    def __init__(self, binary, workdir):
        super().__init__(workdir, "mongo-java")
        self.binary = binary

    def command(self):
        return [self.binary, "--listen", "127.0.0.1:0"]


def cpu_seconds(pid):
    """User plus system CPU time a process has used so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_status(pid):
    """{"VmRSS": kB, "VmHWM": kB} from /proc/PID/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


class Service:
    """The twigz-migrations binary on a free loopback port; the first JSON log line names it."""

    def __init__(self, binary, workdir, mongodb_uri, database, tag, extra_args=()):
        self.log_path = os.path.join(workdir, f"service-{tag}.log")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWIGZ_")}
        env.update({"MONGODB_URI": mongodb_uri, "MONGODB_DATABASE": database})
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", *extra_args],
            env=env, stdout=subprocess.DEVNULL, stderr=self.log)
        first = wait_for(self._first_line, 30, "the service's first log line")
        entry = json.loads(first)
        if "address" not in entry:
            raise RuntimeError(f"unexpected first log line: {first}")
        self.address = entry["address"]

    def _first_line(self):
        if self.proc.poll() is not None:
            with open(self.log_path) as f:
                raise RuntimeError(f"service exited {self.proc.returncode}: {f.read()[-2000:]}")
        with open(self.log_path) as f:
            line = f.readline()
        return line if line.endswith("\n") else None

    def memory(self):
        return read_status(self.proc.pid)

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
