"""The service foundation, end to end: the real binary, FerretDB, grpcurl, grpc-health-probe."""
import json
import os
import signal
import socket
import subprocess
import time

import grpc
import pytest

from harness import BINARY, FerretDB, call, grpcurl, health_probe, make_certificates, wait_until

SERVICE = "twigz.migrations.v1.MigrationService"


def test_reflection_lists_every_service(start_service):
    svc = start_service()
    rc, out, err = grpcurl(svc.address, "list")
    assert rc == 0, err
    assert out.split() == [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        SERVICE,
    ]


def test_describe_shows_methods_and_documentation(start_service):
    svc = start_service()
    rc, out, err = grpcurl(svc.address, f"describe {SERVICE}")
    assert rc == 0, err
    for method in ("Run", "Status", "List", "Cancel", "History"):
        assert f"rpc {method} ( .twigz.migrations.v1.{method}Request ) returns ( .twigz.migrations.v1.{method}Response );" in out
    rc, out, err = grpcurl(svc.address, "describe twigz.migrations.v1.MigrationStatus")
    assert rc == 0, err
    assert ".google.protobuf.Timestamp started_at = 9;" in out
    assert "// Last _id processed" in out  # comments come through from the embedded descriptor set


def test_list_describes_the_four_migrations_in_registry_order(start_service):
    svc = start_service()
    resp = call(svc.address, "List")
    migrations = resp["migrations"]
    assert [m["name"] for m in migrations] == [
        "addStatusToStores", "ensureStoreFields", "addUsernamesToCustomers", "addPrivacyToCustomers"]
    assert [m["table"] for m in migrations] == ["stores", "stores", "customers", "customers"]
    assert migrations[0]["fields"] == [{"field": "status", "defaultValue": '"pending"'}]
    assert migrations[1]["fields"] == [
        {"field": "status", "defaultValue": '"pending"'},
        {"field": "phoneNumberVerified", "defaultValue": "false"}]
    assert migrations[2]["fields"] == [{"field": "username", "derivedFrom": "name"}]
    assert migrations[3]["fields"] == [{"field": "isPrivate", "defaultValue": "true"}]
    assert all(m["description"] for m in migrations)


def test_health_is_serving_for_the_server_and_the_service(start_service):
    svc = start_service()
    wait_until(lambda: health_probe(svc.address)[0] == 0, 10, what="SERVING")
    rc, out = health_probe(svc.address, service=SERVICE)
    assert rc == 0 and "SERVING" in out
    rc, out, err = grpcurl(svc.address, "grpc.health.v1.Health/Check", {"service": "no.such.Service"})
    assert rc == 64 + 5, err  # NOT_FOUND


def test_health_follows_the_database_down_and_back(workdir, start_service):
    db = FerretDB(os.path.join(workdir, "outage")).start()
    try:
        svc = start_service("--health-interval-ms", "500", mongodb_uri=db.uri)
        wait_until(lambda: health_probe(svc.address)[0] == 0, 10, what="SERVING")
        channel = grpc.insecure_channel(svc.address)
        watch = channel.unary_stream("/grpc.health.v1.Health/Watch")(b"", timeout=60)
        assert next(watch) == b"\x08\x01"  # status: SERVING

        db.stop()
        wait_until(lambda: health_probe(svc.address)[0] == 4, 15, what="NOT_SERVING")  # probe: 4 = not serving
        assert next(watch) == b"\x08\x02"  # the watcher is told: NOT_SERVING

        db.start()
        wait_until(lambda: health_probe(svc.address)[0] == 0, 30, what="SERVING again once it is back")
        assert next(watch) == b"\x08\x01"
        watch.cancel()
        channel.close()
    finally:
        db.stop()


def test_a_frozen_database_turns_readiness_not_serving_and_back(workdir, start_service):
    db = FerretDB(os.path.join(workdir, "frozen")).start()
    try:
        svc = start_service("--health-interval-ms", "200", "--ping-timeout-ms", "500",
                            "--shutdown-grace", "2", mongodb_uri=db.uri)
        wait_until(lambda: health_probe(svc.address)[0] == 0, 10, what="SERVING")
        os.kill(db.proc.pid, signal.SIGSTOP)  # accepts connections, answers nothing
        try:
            wait_until(lambda: health_probe(svc.address)[0] == 4, 30, what="NOT_SERVING while frozen")
            assert health_probe(svc.address, service="liveness")[0] == 0
            reasons = [e["reason"] for e in svc.log_entries() if e["msg"] == "health: NOT_SERVING"]
            assert reasons and "ping" in reasons[-1], reasons
        finally:
            os.kill(db.proc.pid, signal.SIGCONT)
        wait_until(lambda: health_probe(svc.address)[0] == 0, 30, what="SERVING once it answers")
    finally:
        db.stop()


def test_health_watch_of_an_unknown_service_says_service_unknown(start_service):
    svc = start_service()
    with grpc.insecure_channel(svc.address) as channel:
        watch = channel.unary_stream("/grpc.health.v1.Health/Watch")(b"\x0a\x03abc", timeout=10)
        assert next(watch) == b"\x08\x03"  # SERVICE_UNKNOWN, and the stream stays open
        watch.cancel()


def protobuf_string(field, text):
    data = text.encode()
    assert len(data) < 16384
    return bytes([field << 3 | 2, len(data) & 0x7F | 0x80, len(data) >> 7]) + data


def test_a_long_unknown_service_name_is_cut_on_a_character_boundary(start_service):
    svc = start_service()
    with grpc.insecure_channel(svc.address) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        with pytest.raises(grpc.RpcError) as e:
            check(protobuf_string(1, "\u20ac" * 100), timeout=10)  # 300 bytes, cut at 200
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert e.value.details() == 'unknown service "' + "\u20ac" * 66 + '"'


def test_log_lines_stay_valid_utf8_when_a_method_path_is_cut(start_service):
    svc = start_service()
    with grpc.insecure_channel(svc.address) as channel:
        with pytest.raises(grpc.RpcError) as e:
            channel.unary_unary("/xy." + "\u20ac" * 120 + "/M")(b"", timeout=10)  # 366 bytes, cut at 255
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    svc.stop()
    with open(svc.logpath, "rb") as f:
        lines = f.read().splitlines()
    cut = [json.loads(line.decode("utf-8")) for line in lines if b"/xy." in line]
    assert cut and all(entry["method"].startswith("/xy.\u20ac") for entry in cut), cut


def test_times_before_1970_or_after_9999_in_a_state_document_are_valid_timestamps(ferret, start_service):
    import datetime
    from bson.datetime_ms import DatetimeMS
    ferret.client()["e2e_timestamps"]["_migrations"].insert_one({
        "_id": "addStatusToStores", "state": "FAILED", "error": "written by hand",
        "startedAt": datetime.datetime(1969, 12, 31, 23, 59, 59, 999000),
        "finishedAt": DatetimeMS(253402300800000 + 86400000)})  # 10000-01-02
    svc = start_service(database="e2e_timestamps")
    rc, out, err = grpcurl(svc.address, f"{SERVICE}/Status", {"names": ["addStatusToStores"]})
    assert rc == 0, err
    assert "1970-01-01T00:00:00Z" in out, out
    assert "9999-12-31T23:59:59.999Z" in out, out
    assert sum(e["msg"].startswith("time out of range") for e in svc.log_entries()) == 2


@pytest.mark.parametrize("path", [
    f"/{SERVICE}/NoSuchMethod",
    "/no.such.Service/Method",
])
def test_unknown_methods_are_unimplemented(start_service, path):
    svc = start_service()
    with grpc.insecure_channel(svc.address) as channel:
        with pytest.raises(grpc.RpcError) as e:
            channel.unary_unary(path)(b"", timeout=10)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize("payload", [
    b"\xff\xff\xff\xff",          # not protobuf at all
    b"\x08\x01",                  # field 1 (names, a string) sent as a varint
    b"\x0a\x10abc",               # a string longer than the message
])
def test_bytes_that_are_not_a_run_request_are_invalid_argument(start_service, payload):
    svc = start_service()
    with grpc.insecure_channel(svc.address) as channel:
        with pytest.raises(grpc.RpcError) as e:
            channel.unary_unary(f"/{SERVICE}/Run")(payload, timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "twigz.migrations.v1.RunRequest" in e.value.details()


def test_a_token_guards_the_migration_service_only(workdir, start_service):
    token_file = os.path.join(workdir, "token")
    with open(token_file, "w") as f:
        f.write("s3cret-token\n")
    svc = start_service("--auth-token-file", token_file)
    method = f"{SERVICE}/List"
    assert grpcurl(svc.address, method, {})[0] == 64 + 16  # no token: UNAUTHENTICATED
    for header in ("authorization: Bearer wrong", "authorization: Bearer ", "authorization: bearer s3cret-token",
                   "authorization: s3cret-token", "authorization: Bearer s3cret-token2"):
        rc, _, err = grpcurl(svc.address, method, {}, "-rpc-header", header)
        assert rc == 64 + 16, (header, err)
    rc, out, err = grpcurl(svc.address, method, {}, "-rpc-header", "authorization: Bearer s3cret-token")
    assert rc == 0, err
    assert len(json.loads(out)["migrations"]) == 4
    # Health and reflection stay open.
    assert grpcurl(svc.address, "list")[0] == 0
    wait_until(lambda: health_probe(svc.address)[0] == 0, 10, what="SERVING")
    assert "s3cret-token" not in svc.logs()


def test_the_token_can_come_from_the_environment(start_service):
    svc = start_service(env={"TWIGZ_AUTH_TOKEN": "env-token"})
    assert grpcurl(svc.address, f"{SERVICE}/List", {})[0] == 64 + 16
    rc, _, err = grpcurl(svc.address, f"{SERVICE}/List", {}, "-H", "authorization: Bearer env-token")
    assert rc == 0, err


def test_a_token_from_the_environment_is_trimmed_like_one_from_a_file(start_service):
    svc = start_service(env={"TWIGZ_AUTH_TOKEN": "  env-token \n"})
    rc, _, err = grpcurl(svc.address, f"{SERVICE}/List", {}, "-H", "authorization: Bearer env-token")
    assert rc == 0, err


@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_an_empty_or_blank_token_in_the_environment_is_refused_with_64(value):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIGZ_")}
    env["TWIGZ_AUTH_TOKEN"] = value
    p = subprocess.run([BINARY, "--listen", "127.0.0.1:0", "--metrics-listen", ""], env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 64, p.stderr
    assert "TWIGZ_AUTH_TOKEN" in p.stderr and "empty or blank" in p.stderr


@pytest.mark.parametrize("contents", ["", "  \n", "\n\n"])
def test_an_empty_or_blank_token_file_is_refused_with_64(workdir, contents):
    path = os.path.join(workdir, "blank-token")
    with open(path, "w") as f:
        f.write(contents)
    p = subprocess.run([BINARY, "--auth-token-file", path, "--metrics-listen", ""],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 64, p.stderr
    assert "--auth-token-file" in p.stderr and "holds no token" in p.stderr


def junk_connection(address):
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"\x16\x03\x01\x00\x05junk!" * 4)  # a TLS record header, then nonsense
        try:
            sock.recv(64)
        except OSError:
            pass


def test_junk_tls_handshakes_are_logged_a_few_at_a_time_with_a_count(workdir, start_service):
    d = os.path.join(workdir, "certs-junk")
    os.makedirs(d, exist_ok=True)
    c = make_certificates(d)
    svc = start_service("--tls-cert", c["server.pem"], "--tls-key", c["server.key"])
    started = time.monotonic()
    for _ in range(300):
        junk_connection(svc.address)
    grpc_warnings = lambda: [e for e in svc.log_entries() if e.get("component") == "grpc" and e["level"] == "warn"]
    # Once a window has passed, the next failure's line says how many were held back.
    wait_until(lambda: junk_connection(svc.address) or any(e.get("suppressed", 0) > 0 for e in grpc_warnings()),
               60, interval=0.5, what="a warn line carrying the count held back")
    # At most 10 lines per 10 s window the flood spanned (not 300): the bound follows this machine's pace.
    windows = (time.monotonic() - started) // 10 + 2
    assert 0 < len(grpc_warnings()) <= 10 * windows, (len(grpc_warnings()), windows)
    rc, _, err = grpcurl(svc.address, f"{SERVICE}/List", {}, "-cacert", c["ca.pem"], plaintext=False)
    assert rc == 0, err  # real clients are still served


def test_unauthenticated_calls_are_logged_a_few_at_a_time_with_a_count(workdir, start_service):
    token_file = os.path.join(workdir, "token-flood")
    with open(token_file, "w") as f:
        f.write("flood-token\n")
    svc = start_service("--auth-token-file", token_file)
    with grpc.insecure_channel(svc.address) as channel:
        list_call = channel.unary_unary(f"/{SERVICE}/List")
        def refused():
            with pytest.raises(grpc.RpcError) as e:
                list_call(b"", timeout=10)
            assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        started = time.monotonic()
        for _ in range(300):
            refused()
        lines = lambda: [e for e in svc.log_entries() if e["msg"] == "rpc" and e["code"] == "Unauthenticated"]
        wait_until(lambda: refused() or any(e.get("suppressed", 0) > 0 for e in lines()), 60, interval=0.5,
                   what="an rpc line carrying the count held back")
    windows = (time.monotonic() - started) // 10 + 2  # at most 5 lines per 10 s window, not 300
    assert len(lines()) <= 5 * windows, (len(lines()), windows)


def test_tls_and_mutual_tls(workdir, start_service):
    d = os.path.join(workdir, "certs")
    os.makedirs(d, exist_ok=True)
    c = make_certificates(d)
    svc = start_service("--tls-cert", c["server.pem"], "--tls-key", c["server.key"])
    rc, out, err = grpcurl(svc.address, f"{SERVICE}/List", {}, "-cacert", c["ca.pem"], plaintext=False)
    assert rc == 0, err
    assert len(json.loads(out)["migrations"]) == 4
    assert grpcurl(svc.address, f"{SERVICE}/List", {})[0] != 0  # plaintext is refused

    mtls = start_service("--tls-cert", c["server.pem"], "--tls-key", c["server.key"], "--tls-client-ca", c["ca.pem"])
    rc, _, err = grpcurl(mtls.address, f"{SERVICE}/List", {}, "-cacert", c["ca.pem"], plaintext=False)
    assert rc != 0, "a client without a certificate must be refused under mutual TLS"
    rc, out, err = grpcurl(mtls.address, f"{SERVICE}/List", {}, "-cacert", c["ca.pem"],
                           "-cert", c["client.pem"], "-key", c["client.key"], plaintext=False)
    assert rc == 0, err
    rc, _ = health_probe(mtls.address, "-tls", "-tls-ca-cert", c["ca.pem"], "-tls-client-cert", c["client.pem"],
                         "-tls-client-key", c["client.key"])
    assert rc == 0


def test_sigterm_turns_not_serving_drains_and_exits_zero(start_service):
    svc = start_service()
    wait_until(lambda: health_probe(svc.address)[0] == 0, 10, what="SERVING")
    assert svc.stop(signal.SIGTERM) == 0
    messages = [e["msg"] for e in svc.log_entries()]
    assert "shutting down" in messages
    assert messages.index("health: NOT_SERVING") > messages.index("shutting down")
    assert messages[-1] == "stopped"


def test_sigint_exits_zero_too(start_service):
    svc = start_service()
    assert svc.stop(signal.SIGINT) == 0


def test_every_log_line_is_a_json_object_with_ts_level_msg(start_service):
    svc = start_service()
    call(svc.address, "List")
    call(svc.address, "Status")
    rc, _, _ = grpcurl(svc.address, f"{SERVICE}/Status", {"names": ["nope"]})
    assert rc != 0
    svc.stop()
    lines = svc.logs().splitlines()
    assert lines
    for line in lines:
        entry = json.loads(line)
        assert {"ts", "level", "msg"} <= entry.keys(), line
    # Polled reads are logged at debug when they succeed (metrics count them), always when they fail.
    rpc = [json.loads(l) for l in lines if '"msg":"rpc"' in l]
    assert [(e["method"], e["code"], e["level"]) for e in rpc] == [(f"/{SERVICE}/Status", "InvalidArgument", "info")]
    assert rpc[0]["duration_ms"] >= 0


def test_debug_level_logs_every_call(start_service):
    svc = start_service("--log-level", "debug")
    call(svc.address, "List")
    call(svc.address, "Status")
    svc.stop()
    rpc = [json.loads(l) for l in svc.logs().splitlines() if '"msg":"rpc"' in l]
    rpc = [e for e in rpc if e["method"].startswith(f"/{SERVICE}/")]  # grpcurl asks reflection first
    assert [(e["method"], e["code"], e["level"]) for e in rpc] == [
        (f"/{SERVICE}/List", "OK", "debug"), (f"/{SERVICE}/Status", "OK", "debug")]


@pytest.mark.parametrize("args, names", [
    (["--no-such-flag"], "--no-such-flag"),
    (["--threads", "zero"], "--threads"),
    (["--threads"], "--threads"),
    (["--listen", "not-an-address:99999"], "--listen"),
    (["--log-level", "loud"], "--log-level"),
    (["--write-filter", "sometimes"], "--write-filter"),
    (["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], "--tls-cert"),
    (["--mongodb-uri", "postgres://nope"], "--mongodb-uri"),
])
def test_a_bad_flag_is_one_line_naming_it_and_exit_64(args, names):
    p = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=30)
    assert p.returncode == 64, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert names in p.stderr


def unshare_usable():
    return os.geteuid() == 0 and subprocess.run(["unshare", "-p", "-f", "--mount-proc", "true"],
                                                capture_output=True).returncode == 0


@pytest.mark.skipif(not unshare_usable(), reason="needs root and unshare for a PID namespace")
def test_a_killed_predecessor_with_our_pid_leaves_nothing_on_stderr():
    # libmongoc's shared-memory counters file of a killed process with the same PID (PID 1 in a
    # restarted container) made the driver print a plain-text warning before our first line.
    stale = "/dev/shm/mongoc-1"
    open(stale, "w").close()
    try:
        p = subprocess.run(["unshare", "-p", "-f", "--mount-proc", BINARY, "--no-such-flag"],
                           capture_output=True, text=True, timeout=30)
    finally:
        if os.path.exists(stale):
            os.unlink(stale)
    assert p.returncode == 64
    assert p.stderr == "twigz-migrations: unknown flag --no-such-flag (see --help)\n"


def test_help_and_version():
    p = subprocess.run([BINARY, "--help"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "--mongodb-uri" in p.stdout and "MONGODB_URI" in p.stdout
    p = subprocess.run([BINARY, "--version"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.startswith("twigz-migrations ")


def test_the_uri_password_never_reaches_the_logs(ferret, start_service):
    uri = ferret.uri.replace("mongodb://", "mongodb://admin:hunter2-secret@")
    svc = start_service(mongodb_uri=uri)
    call(svc.address, "List")
    svc.stop()
    logs = svc.logs()
    assert "hunter2-secret" not in logs
    assert "admin:***@" in logs


def test_credentials_the_server_rejects_are_a_configuration_error(ferret, start_service, workdir):
    """The launcher's FerretDB refuses every login (it runs without authentication and supports
    no SASL mechanism a driver offers): health says NOT_SERVING with the reason, calls are
    FAILED_PRECONDITION naming the user, the one-shot mode exits 65 (permanent, not 70 or 75),
    and the password appears nowhere."""
    uri = ferret.uri.replace("mongodb://", "mongodb://twigz-svc:hunter3-secret@")
    svc = start_service("--health-interval-ms", "200", mongodb_uri=uri)
    wait_until(lambda: health_probe(svc.address)[0] == 4, 30, what="NOT_SERVING")
    wait_until(lambda: "rejected the credentials" in svc.logs(), 30, what="the reason in the log")
    rc, out, err = grpcurl(svc.address, "twigz.migrations.v1.MigrationService/Run",
                           {"names": ["addStatusToStores"]})
    assert rc != 0 and "FailedPrecondition" in err, err
    assert 'MongoDB rejected the credentials for user "twigz-svc"' in err, err
    rc, out, err = grpcurl(svc.address, "twigz.migrations.v1.MigrationService/Status", {})
    assert "FailedPrecondition" in err, err
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIGZ_")}
    env.update({"MONGODB_URI": uri, "MONGODB_DATABASE": "creds"})
    one = subprocess.run([BINARY, "run", "addStatusToStores", "--metrics-listen", ""], env=env,
                         capture_output=True, text=True, timeout=120)
    assert one.returncode == 65, (one.returncode, one.stderr[-2000:])
    assert 'rejected the credentials for user "twigz-svc"' in one.stderr
    svc.stop()
    for text in (svc.logs(), one.stderr, one.stdout, out, err):
        assert "hunter3-secret" not in text


@pytest.mark.parametrize("uri", [
    "mongodb://user:SECRET1?pw4@127.0.0.1:1/",
    "mongodb://127.0.0.1:1/?tls=true&tlsCertificateKeyFilePassword=SECRET1",
    "mongodb://AKIAUSER:SECRET1@127.0.0.1:1/?authMechanism=MONGODB-AWS"
    "&authMechanismProperties=AWS_SESSION_TOKEN:SECRET2",
])
def test_no_credential_a_uri_can_carry_reaches_logs_errors_or_metrics(start_service, uri):
    svc = start_service(mongodb_uri=uri)
    # A call that reaches the (absent) database, so its error message is checked too.
    _, out, err = grpcurl(svc.address, f"{SERVICE}/Status", {})
    metrics = svc.metrics()
    svc.stop()
    for text in (svc.logs(), out, err, str(metrics)):
        assert "SECRET1" not in text and "SECRET2" not in text and "AKIAUSER" not in text, text
    assert "***" in svc.logs()


def test_liveness_stays_serving_while_the_database_is_down(workdir, start_service):
    db = FerretDB(os.path.join(workdir, "liveness")).start()
    try:
        svc = start_service("--health-interval-ms", "500", mongodb_uri=db.uri)
        wait_until(lambda: health_probe(svc.address)[0] == 0, 10, what="SERVING")
        db.stop()
        wait_until(lambda: health_probe(svc.address, service=SERVICE)[0] == 4, 15, what="NOT_SERVING")
        assert health_probe(svc.address, service="liveness")[0] == 0
    finally:
        db.stop()


def test_sigterm_does_not_wait_for_idle_client_connections(start_service):
    import time
    svc = start_service("--shutdown-grace", "20")
    channel = grpc.insecure_channel(svc.address)
    channel.unary_unary(f"/{SERVICE}/List")(b"", timeout=10)  # the connection stays open, idle
    started = time.monotonic()
    assert svc.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 10, "nothing was in flight: no need to wait the grace period"
    channel.close()
