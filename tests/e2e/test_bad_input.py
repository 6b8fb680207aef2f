"""Bad input over the wire: the real binary answers every malformed, oversized or hurried request with a
clear status, and stays up (health SERVING and a List still answers after each test).

Requests are built by hand (protobuf wire format) and sent as raw bytes with grpcio, so the tests can
send what no generated client would: bytes that are not protobuf, invalid UTF-8 in string fields,
messages past the size limit.
"""
import json
import time

import grpc
import pytest

from harness import call, health_probe, wait_until

SERVICE = "twigz.migrations.v1.MigrationService"
METHODS = ("Run", "Status", "List", "Cancel", "History")
NAMES = ("addStatusToStores", "ensureStoreFields", "addUsernamesToCustomers", "addPrivacyToCustomers")
MAX_RECEIVE = 4 * 1024 * 1024  # gRPC's default max receive size, which the service keeps
# An error message is at most TM_ERROR_MSG_MAX (512) bytes; leave room for gRPC's own wording.
MAX_DETAILS = 1024


# --- protobuf wire format, by hand ---

def varint(n):
    n &= (1 << 64) - 1  # negative int32 values are sent as 10-byte varints
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def string_field(number, data):
    return varint(number << 3 | 2) + varint(len(data)) + data


def varint_field(number, value):
    return varint(number << 3) + varint(value)


def names_request(names, *extra):
    """A RunRequest or StatusRequest (names is field 1 in both) with the given raw names."""
    return b"".join(string_field(1, n) for n in names) + b"".join(extra)


def cancel_request(name):
    return string_field(1, name)


DRY_RUN = varint_field(2, 1)  # RunRequest.dry_run: the Run tests write nothing


# --- helpers ---

def unary(channel, method, payload, timeout=30):
    """Calls a method with raw bytes; returns (code, details)."""
    try:
        channel.unary_unary(f"/{SERVICE}/{method}")(payload, timeout=timeout)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details() or ""


def assert_still_serving(svc):
    """The process is alive, health says SERVING, a List answers, and every log line is JSON."""
    assert svc.proc.poll() is None, f"the service exited {svc.proc.returncode}: {svc.logs()[-4000:]}"
    wait_until(lambda: health_probe(svc.address)[0] == 0, 10, what="health SERVING")
    assert [m["name"] for m in call(svc.address, "List")["migrations"]] == list(NAMES)
    with open(svc.logpath, "rb") as f:
        raw = f.read()
    for line in raw.splitlines():
        text = line.decode("utf-8")  # invalid UTF-8 in a name must not leak into the logs raw
        assert isinstance(json.loads(text), dict), text
        assert len(line) <= 8192, f"a {len(line)}-byte log line"


@pytest.fixture
def svc(start_service):
    s = start_service()
    wait_until(lambda: health_probe(s.address)[0] == 0, 10, what="health SERVING")
    return s


@pytest.fixture
def channel(svc):
    # Large enough on the client side that the server's own limit is what gets tested.
    options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    with grpc.insecure_channel(svc.address, options=options) as ch:
        yield ch


# --- bytes that are not protobuf ---

NOT_PROTOBUF = {
    "unterminated_varint": b"\xff" * 11,
    "length_past_the_end": b"\x0a\x10abc",
    "wire_type_7": b"\x0f\x00",
    "field_number_zero": b"\x02\x00",
    "end_group_without_start": b"\x0c",
}


@pytest.mark.parametrize("method", METHODS)
def test_bytes_that_are_not_protobuf_are_invalid_argument_naming_the_type(svc, channel, method):
    for what, payload in NOT_PROTOBUF.items():
        code, details = unary(channel, method, payload)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (what, code, details)
        assert f"twigz.migrations.v1.{method}Request" in details, (what, details)
    assert_still_serving(svc)


def test_bytes_that_are_not_protobuf_end_a_reflection_stream_with_invalid_argument(svc, channel):
    stream = channel.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
    with pytest.raises(grpc.RpcError) as e:
        list(stream(iter([b"\xff" * 11]), timeout=10))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ServerReflectionRequest" in e.value.details()
    assert_still_serving(svc)


def test_bytes_that_are_not_protobuf_are_invalid_argument_for_health_check(svc, channel):
    with pytest.raises(grpc.RpcError) as e:
        channel.unary_unary("/grpc.health.v1.Health/Check")(b"\xff" * 11, timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert_still_serving(svc)


# --- size limit ---

@pytest.mark.parametrize("method", METHODS)
def test_a_message_over_4_mib_is_resource_exhausted(svc, channel, method):
    payload = names_request([b"x" * (MAX_RECEIVE + 1)])
    code, details = unary(channel, method, payload)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, details)
    assert details, "the status must say what was too large"
    assert_still_serving(svc)


def test_a_message_just_under_4_mib_is_decoded_and_refused_for_its_content(svc, channel):
    name = b"x" * (MAX_RECEIVE - 16)
    code, details = unary(channel, "Status", names_request([name]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert 0 < len(details) <= MAX_DETAILS
    assert_still_serving(svc)


# --- many names ---

def assert_lists_the_valid_names(details):
    for name in NAMES:
        assert name in details, details


@pytest.mark.parametrize("method", ["Run", "Status"])
def test_ten_thousand_unknown_names_are_one_short_invalid_argument(svc, channel, method):
    names = [f"noSuchMigration{i:05d}".encode() for i in range(10_000)]
    started = time.monotonic()
    code, details = unary(channel, method, names_request(names, DRY_RUN if method == "Run" else b""))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert 0 < len(details) <= MAX_DETAILS, details
    assert_lists_the_valid_names(details)
    assert time.monotonic() - started < 10
    assert_still_serving(svc)


@pytest.mark.parametrize("method", ["Run", "Status"])
def test_ten_thousand_copies_of_a_valid_name_are_invalid_argument(svc, channel, method):
    names = [b"addStatusToStores"] * 10_000
    code, details = unary(channel, method, names_request(names, DRY_RUN if method == "Run" else b""))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert 0 < len(details) <= MAX_DETAILS, details
    assert "addStatusToStores" in details
    assert_still_serving(svc)


# --- megabyte strings ---

MEGABYTE_NAME = b"m" * (1024 * 1024)


@pytest.mark.parametrize("method, payload, codes", [
    ("Run", names_request([MEGABYTE_NAME], DRY_RUN), {grpc.StatusCode.INVALID_ARGUMENT}),
    ("Status", names_request([MEGABYTE_NAME]), {grpc.StatusCode.INVALID_ARGUMENT}),
    # engine.h: an unknown name to Cancel is NOT_FOUND (INVALID_ARGUMENT would be as clear).
    ("Cancel", cancel_request(MEGABYTE_NAME), {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT}),
], ids=["Run", "Status", "Cancel"])  # short ids: pytest exports the test id to the service's environment
def test_a_megabyte_name_gets_a_short_clear_status(svc, channel, method, payload, codes):
    code, details = unary(channel, method, payload)
    assert code in codes, (code, details)
    assert 0 < len(details) <= MAX_DETAILS, f"{len(details)} characters of details"
    assert_still_serving(svc)
    assert len(svc.logs()) < 256 * 1024, "the megabyte must not be echoed into the logs"


def test_a_megabyte_unknown_field_is_ignored_by_list(svc, channel):
    code, details = unary(channel, "List", string_field(99, MEGABYTE_NAME))
    assert code == grpc.StatusCode.OK, details
    assert_still_serving(svc)


# --- invalid UTF-8 ---

INVALID_UTF8 = {
    "lone_bytes": b"\xff\xfe",
    "overlong_slash": b"add\xc0\xafStatus",
    "truncated_sequence": b"addStatusToStores\xe2\x84",
    "surrogate": b"\xed\xa0\x80addStatusToStores",
    "lone_continuation": b"\x80addStatusToStores",
}


@pytest.mark.parametrize("method", ["Run", "Status", "Cancel"])
def test_invalid_utf8_in_names_gets_a_clear_status(svc, channel, method):
    for what, name in INVALID_UTF8.items():
        if method == "Cancel":
            payload, codes = cancel_request(name), {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT}
        else:
            payload = names_request([name], DRY_RUN if method == "Run" else b"")
            codes = {grpc.StatusCode.INVALID_ARGUMENT}
        code, details = unary(channel, method, payload)
        assert code in codes, (what, code, details)
        assert details, what
    assert_still_serving(svc)


# --- 1 ms deadlines ---

DEADLINE_REQUESTS = {
    "Run": names_request([b"addStatusToStores"], DRY_RUN),
    "Status": names_request([], varint_field(2, 1)),  # include_pending: a live count per migration
    "List": b"",
    "Cancel": cancel_request(b"addStatusToStores"),
    "History": b"",
}


@pytest.mark.parametrize("method", METHODS)
def test_one_millisecond_deadlines_end_in_deadline_exceeded_or_the_normal_answer(svc, channel, method):
    payload = DEADLINE_REQUESTS[method]
    normal, _ = unary(channel, method, payload)  # what the method answers with time to spare
    # Which of the two each call gets depends on the machine's speed; both are clear answers.
    for _ in range(25):
        code, details = unary(channel, method, payload, timeout=0.001)
        assert code in {grpc.StatusCode.DEADLINE_EXCEEDED, normal}, (code, details)
    assert_still_serving(svc)


def test_one_millisecond_deadlines_on_health_and_reflection(svc, channel):
    # A 1 ms deadline can also catch the client's channel reconnecting (after an earlier test's
    # oversized message), which grpcio reports as UNAVAILABLE "Socket closed": still a clear status.
    expected = (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE)
    for _ in range(25):
        try:
            channel.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=0.001)
        except grpc.RpcError as e:
            assert e.code() in expected, e
        stream = channel.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
        try:
            list(stream(iter([string_field(7, b"*")]), timeout=0.001))  # list_services
        except grpc.RpcError as e:
            assert e.code() in expected, e
    assert_still_serving(svc)


# --- known gaps (reported; not fixed in files these tests do not own) ---

def test_invalid_utf8_in_a_name_is_not_echoed_raw_in_the_status(svc, channel):
    code, details = unary(channel, "Status", names_request([b"bad\xff\xfename"]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "\u00ff" not in details and "\u00fe" not in details, details  # grpcio's latin-1 fallback


@pytest.mark.parametrize("method", ["Run", "Status", "Cancel"])
def test_a_name_with_a_nul_byte_is_not_taken_for_a_registered_name(svc, channel, method):
    name = b"addStatusToStores\x00junk"
    payload = cancel_request(name) if method == "Cancel" else names_request(
        [name], DRY_RUN if method == "Run" else b"")
    code, details = unary(channel, method, payload)
    assert code in {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}, (code, details)


@pytest.mark.parametrize("payload, says", [
    (varint_field(2, -1), "page_size"),
    (varint_field(2, 1001), "page_size"),
    (string_field(3, b"1:" + b"x" * 300), "page_token"),
    (string_field(3, b":no-time"), "page_token"),
    (string_field(1, b"noSuchMigration"), "unknown migration"),
], ids=["negative", "too-big", "long-token", "bad-token", "unknown"])
def test_bad_history_requests_are_invalid_argument_naming_the_field(start_service, payload, says):
    svc = start_service()
    with grpc.insecure_channel(svc.address) as channel:
        history = channel.unary_unary(f"/{SERVICE}/History")
        with pytest.raises(grpc.RpcError) as e:
            history(payload, timeout=30)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and says in e.value.details(), e.value.details()
