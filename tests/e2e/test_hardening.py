"""Hostile and careless load against the real binary: floods of calls that give up, a database that
freezes during shutdown, connections that never speak. What must hold: bounded threads and memory,
Status and Cancel answered within their deadlines, SIGTERM within the grace, idle sockets closed."""
import contextlib
import datetime
import os
import signal
import socket
import threading
import time

import grpc

from harness import DatabaseServer, call, health_probe, wait_until
from test_torture import figure, rss_and_fds, sanitized

SERVICE = "twigz.migrations.v1.MigrationService"
USERNAMES = "addUsernamesToCustomers"


def field(number, wire, payload):
    """One protobuf field: varint payloads as ints, length-delimited ones as bytes."""
    key = bytes([number << 3 | wire])
    if wire == 0:
        out = b""
        while True:
            b = payload & 0x7F
            payload >>= 7
            out += bytes([b | (0x80 if payload else 0)])
            if not payload:
                return key + out
    return key + bytes([len(payload)]) + payload


def run_request(name, batch_size=0):
    return field(1, 2, name.encode()) + (field(3, 0, batch_size) if batch_size else b"")


PENDING_STATUS = field(2, 0, 1)


def threads_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("Threads:"))


def hold_elsewhere(db, name):
    """A live lease and a RUNNING state of a fake owner: every Run of name waits, as long as we want."""
    far = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    db["_migrations_leases"].insert_one({"_id": f"{name}#1", "name": name, "gen": 1, "kind": "lease",
                                         "owner": "fake-owner", "runId": "run-of-fake-owner", "expiresAt": far})
    db["_migrations"].insert_one({"_id": name, "name": name, "state": "RUNNING", "runId": "run-of-fake-owner",
                                  "owner": "fake-owner", "leaseGen": 1, "leaseExpiresAt": far,
                                  "startedAt": datetime.datetime.now(datetime.timezone.utc),
                                  "processed": 0, "updated": 0, "total": 0})


def test_a_flood_of_runs_and_pending_statuses_holds_nothing(ferret, start_service):
    client = ferret.client()
    client.drop_database("hard_flood")
    db = client["hard_flood"]
    db.customers.insert_many([{"_id": i, "name": f"n{i % 40}"} for i in range(2000)])
    hold_elsewhere(db, USERNAMES)
    max_runs = 16
    svc = start_service("--max-runs", str(max_runs), "--shutdown-grace", "5", database="hard_flood")
    # Warm up every path the flood takes (the control pool's monitor threads start on first use).
    for _ in range(10):
        call(svc.address, "List")
        call(svc.address, "Status", {"includePending": True})
    threads0 = threads_of(svc.proc.pid)
    rss0, _ = rss_and_fds(svc.proc.pid)

    peak = [threads0]
    sampling = threading.Event()

    def sample():
        while not sampling.is_set():
            peak[0] = max(peak[0], threads_of(svc.proc.pid))
            time.sleep(0.02)
    sampler = threading.Thread(target=sample)
    sampler.start()

    channels = [grpc.insecure_channel(svc.address) for _ in range(8)]
    futures = []
    try:
        for i in range(1000):
            ch = channels[i % len(channels)]
            run = ch.unary_unary(f"/{SERVICE}/Run")
            # Most identical (they share one waiting run); some differ, to meet the bound on runs.
            req = run_request(USERNAMES, batch_size=(i % 50) + 1 if i % 4 == 0 else 0)
            futures.append(("Run", run.future(req, timeout=2)))
            status = ch.unary_unary(f"/{SERVICE}/Status")
            futures.append(("Status", status.future(PENDING_STATUS, timeout=1)))
        # While the flood is in flight: plain Status and Cancel answer within their deadlines.
        t0 = time.monotonic()
        plain = channels[0].unary_unary(f"/{SERVICE}/Status")(b"", timeout=5)
        status_s = time.monotonic() - t0
        assert plain is not None
        t0 = time.monotonic()
        channels[1].unary_unary(f"/{SERVICE}/Cancel")(field(1, 2, USERNAMES.encode()), timeout=5)
        cancel_s = time.monotonic() - t0
        codes = {}
        for kind, f in futures:
            try:
                f.result()
                code = "OK"
            except grpc.RpcError as e:
                code = e.code().name
            codes.setdefault(kind, {}).setdefault(code, 0)
            codes[kind][code] += 1
    finally:
        for ch in channels:
            ch.close()
        sampling.set()
        sampler.join()

    # Every Run waited for the fake owner and gave up; those beyond the bound were told so at once.
    assert set(codes["Run"]) <= {"DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"}, codes
    assert codes["Run"].get("RESOURCE_EXHAUSTED", 0) > 0, codes
    assert set(codes["Status"]) <= {"OK", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"}, codes
    # A chain and its heartbeat per run, the lanes' threads, gRPC's own: nothing per call.
    bound = threads0 + 2 * max_runs + 16
    assert peak[0] <= bound, (threads0, peak[0], bound)
    # Callers gone, the waiting runs let go of their threads and clients (gRPC's executor may keep
    # a few threads it started for the flood).
    wait_until(lambda: threads_of(svc.proc.pid) <= threads0 + 8, 30, what="threads back to the baseline")
    rss1, _ = rss_and_fds(svc.proc.pid)
    if not sanitized():
        assert rss1 <= rss0 + 64 * 1024, (rss0, rss1)  # KiB
    assert db["_migrations"].find_one({"_id": USERNAMES})["cancelRequested"] is True
    assert db.customers.count_documents({"username": {"$exists": True}}) == 0, "the fake owner holds it"
    t0 = time.monotonic()
    svc.proc.send_signal(signal.SIGTERM)
    assert svc.proc.wait(timeout=30) == 0
    exit_s = time.monotonic() - t0
    figure("flood", runs=1000, pending_statuses=1000, codes=codes, threads_before=threads0, threads_peak=peak[0],
           rss_kib_before=rss0, rss_kib_after=rss1, status_s=round(status_s, 3), cancel_s=round(cancel_s, 3),
           sigterm_exit_s=round(exit_s, 2))
    client.close()


def test_sigterm_exits_in_time_while_the_database_is_frozen(workdir, start_service):
    server = DatabaseServer(os.path.join(workdir, "frozen-shutdown")).start()
    try:
        db = server.client()["frozen"]
        db.customers.insert_many([{"_id": f"c{i:05d}", "name": f"n{i}"} for i in range(1000)])
        grace = 2
        svc = start_service("--shutdown-grace", str(grace), "--lease-seconds", "3", "--ping-timeout-ms", "500",
                            "--health-interval-ms", "200", mongodb_uri=server.uri, database="frozen")
        call(svc.address, "Run", {"names": ["addPrivacyToCustomers"], "async": True, "batchSize": 5})
        wait_until(lambda: db.customers.count_documents({"isPrivate": True}) > 0, 60, what="the run under way")
        os.kill(server.proc.pid, signal.SIGSTOP)  # accepts connections, answers nothing
        try:
            wait_until(lambda: health_probe(svc.address)[0] == 4, 30, what="NOT_SERVING while frozen")
            t0 = time.monotonic()
            svc.proc.send_signal(signal.SIGTERM)
            rc = svc.proc.wait(timeout=60)
            exit_s = time.monotonic() - t0
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        assert rc == 0
        assert exit_s < grace + 5 + 10, exit_s  # the watchdog's bound, with room for a slow machine
        # Nothing was lost: a new service takes the run over once the lease expires and finishes it.
        svc2 = start_service(mongodb_uri=server.uri, database="frozen")
        resp = call(svc2.address, "Run", {"names": ["addPrivacyToCustomers"]})
        assert resp["migrations"][0]["state"] == "MIGRATION_STATE_SUCCEEDED", resp
        assert db.customers.count_documents({"isPrivate": {"$ne": True}}) == 0
        figure("frozen_shutdown", grace_s=grace, sigterm_exit_s=round(exit_s, 2))
    finally:
        server.stop()


@contextlib.contextmanager
def open_connections(address, n, send=b""):
    """n TCP connections to address that send `send` and then nothing; closed on exit."""
    host, port = address.rsplit(":", 1)
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection((host, int(port)))
            if send:
                s.sendall(send)
            socks.append(s)
        yield socks
    finally:
        for s in socks:
            s.close()


def read_until_closed(s):
    """Reads what the server sent (its HTTP/2 settings, an error page) up to the end of the stream;
    socket.timeout when the server keeps the connection open."""
    s.settimeout(10)
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        pass


def test_idle_connections_are_dropped_within_the_handshake_limit(start_service):
    svc = start_service("--handshake-timeout-ms", "1000")
    call(svc.address, "List")
    _, fds0 = rss_and_fds(svc.proc.pid)
    with open_connections(svc.address, 3000) as idle:
        t0 = time.monotonic()
        # A real client is served meanwhile.
        assert call(svc.address, "List")["migrations"]
        wait_until(lambda: rss_and_fds(svc.proc.pid)[1] <= fds0 + 10, 60, what="idle connections closed")
        dropped_s = time.monotonic() - t0
        for s in idle[:50]:
            read_until_closed(s)
    figure("idle_connections", connections=3000, handshake_timeout_ms=1000, all_closed_within_s=round(dropped_s, 2))


def test_metrics_answer_while_many_clients_hold_half_open_requests(start_service):
    """200 requests that never finish their headers: the old limit of 64 connections turned every
    scraper away while they stayed; each is closed after the idle timeout."""
    svc = start_service()
    # No blank line: the requests never end.
    with open_connections(svc.metrics_address, 200, send=b"GET /metrics HTTP/1.1\r\nHost: x\r\n") as stalled:
        t0 = time.monotonic()
        assert svc.metrics()
        scrape_s = time.monotonic() - t0
        for s in stalled[:20]:
            read_until_closed(s)
    figure("metrics_half_open", connections=200, scrape_s=round(scrape_s, 3))
