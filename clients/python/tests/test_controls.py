"""The client's pause, resume and tune, and run's pacing controls, against an in-process stand-in for
MigrationService that records each request: what goes on the wire (which wrappers are set), how the
answers read back, and wait() around paused runs. No database, no service binary.

    python3 -m pytest clients/python/tests
"""
import datetime
import math
import os
import sys
from concurrent import futures

import grpc
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import generate_stubs  # noqa: E402

generate_stubs.generate()

from twigz_migrations_client import MigrationsClient, MigrationsError, MigrationState  # noqa: E402
from twigz_migrations_client._generated import migration_service_pb2 as pb  # noqa: E402
from twigz_migrations_client._generated import migration_service_pb2_grpc as pb_grpc  # noqa: E402

RUN_ID = "6b1216b6e465a7a1e9069633"


def status(name, state, **fields):
    return pb.MigrationStatus(name=name, state=state, run_id=RUN_ID, total=900, processed=120, updated=118,
                              **fields)


class Recorder(pb_grpc.MigrationServiceServicer):
    """Answers each method with what the test put in `answers` (a message, or a (code, details)
    pair to fail with, or a list of those for successive calls); keeps every request."""

    def __init__(self):
        self.requests = []
        self.answers = {}

    def _answer(self, method, request, context):
        self.requests.append((method, request))
        answer = self.answers[method]
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, tuple):
            context.abort(*answer)
        return answer

    def Run(self, request, context):
        return self._answer("Run", request, context)

    def Status(self, request, context):
        return self._answer("Status", request, context)

    def Pause(self, request, context):
        return self._answer("Pause", request, context)

    def Resume(self, request, context):
        return self._answer("Resume", request, context)

    def Tune(self, request, context):
        return self._answer("Tune", request, context)

    def History(self, request, context):
        return self._answer("History", request, context)


@pytest.fixture
def service():
    recorder = Recorder()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_MigrationServiceServicer_to_server(recorder, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    client = MigrationsClient(f"127.0.0.1:{port}", timeout=10)
    try:
        yield recorder, client
    finally:
        client.close()
        server.stop(None)


def last(recorder, method):
    return [r for m, r in recorder.requests if m == method][-1]


def test_run_leaves_controls_unset_unless_given_and_sends_a_zero_as_a_value(service):
    recorder, client = service
    recorder.answers["Run"] = pb.RunResponse(run_id=RUN_ID)
    client.run()
    req = last(recorder, "Run")
    for field in ("max_documents_per_second", "max_replication_lag_ms", "max_write_latency_ms",
                  "max_failed_documents"):
        assert not req.HasField(field), field

    client.run("addUsernamesToCustomers", max_documents_per_second=0, max_failed_documents=10,
               max_write_latency_ms=200)
    req = last(recorder, "Run")
    assert req.HasField("max_documents_per_second") and req.max_documents_per_second.value == 0
    assert req.max_failed_documents.value == 10 and req.max_write_latency_ms.value == 200
    assert not req.HasField("max_replication_lag_ms")
    assert list(req.names) == ["addUsernamesToCustomers"]


@pytest.mark.parametrize("kwargs", [
    {"max_documents_per_second": math.nan},
    {"max_documents_per_second": math.inf},
    {"max_documents_per_second": "50"},
    {"max_failed_documents": True},
    {"max_failed_documents": 1.5},
    {"max_replication_lag_ms": 2**63},
])
def test_run_refuses_control_values_no_service_could_take(service, kwargs):
    recorder, client = service
    with pytest.raises(ValueError):
        client.run(**kwargs)
    assert not recorder.requests


def test_tune_sends_only_the_controls_given_and_reads_the_changes(service):
    recorder, client = service
    answer = pb.TuneResponse(migration=status("addUsernamesToCustomers", pb.MIGRATION_STATE_RUNNING),
                             changes=["batch_size 500 -> 100", "max_documents_per_second 0 -> 50"])
    answer.migration.controls.batch_size = 100
    answer.migration.controls.current_batch_size = 100
    answer.migration.controls.max_documents_per_second = 50
    recorder.answers["Tune"] = answer
    result = client.tune("addUsernamesToCustomers", batch_size=100, max_documents_per_second=50)
    req = last(recorder, "Tune")
    assert req.name == "addUsernamesToCustomers"
    assert req.batch_size.value == 100 and req.max_documents_per_second.value == 50
    assert not (req.HasField("max_replication_lag_ms") or req.HasField("max_write_latency_ms")
                or req.HasField("max_failed_documents"))
    assert result.changes == ("batch_size 500 -> 100", "max_documents_per_second 0 -> 50")
    assert result.migration.state is MigrationState.RUNNING
    assert result.migration.controls.batch_size == 100
    assert result.migration.controls.max_documents_per_second == 50
    assert result.migration.controls.max_failed_documents == 0


def test_tune_needs_a_control(service):
    recorder, client = service
    with pytest.raises(ValueError, match="at least one"):
        client.tune("addUsernamesToCustomers")
    assert not recorder.requests


def test_tune_out_of_range_is_the_services_invalid_argument(service):
    recorder, client = service
    recorder.answers["Tune"] = (grpc.StatusCode.INVALID_ARGUMENT, "batch_size must be 1..10000")
    with pytest.raises(MigrationsError) as e:
        client.tune("addUsernamesToCustomers", batch_size=0)
    assert e.value.code is grpc.StatusCode.INVALID_ARGUMENT and last(recorder, "Tune").batch_size.value == 0


def test_pause_and_resume(service):
    recorder, client = service
    recorder.answers["Pause"] = pb.PauseResponse(migration=status("addUsernamesToCustomers",
                                                                  pb.MIGRATION_STATE_PAUSING))
    paused = client.pause("addUsernamesToCustomers")
    assert paused.state is MigrationState.PAUSING and paused.state.held
    assert last(recorder, "Pause").name == "addUsernamesToCustomers"

    recorder.answers["Resume"] = pb.RunResponse(run_id=RUN_ID, migrations=[
        status("addUsernamesToCustomers", pb.MIGRATION_STATE_RUNNING),
        status("addPrivacyToCustomers", pb.MIGRATION_STATE_QUEUED)])
    resumed = client.resume("addUsernamesToCustomers")
    assert resumed.run_id == RUN_ID
    assert [m.state for m in resumed.migrations] == [MigrationState.RUNNING, MigrationState.QUEUED]

    recorder.answers["Resume"] = (grpc.StatusCode.FAILED_PRECONDITION, "addUsernamesToCustomers is not paused")
    with pytest.raises(MigrationsError) as e:
        client.resume("addUsernamesToCustomers")
    assert e.value.code is grpc.StatusCode.FAILED_PRECONDITION and not e.value.retriable


def test_a_status_reads_throttling_and_refused_documents(service):
    recorder, client = service
    m = status("addUsernamesToCustomers", pb.MIGRATION_STATE_THROTTLED, failed_documents=3,
               throttle_reason="batch writes took 812 ms, over max_write_latency_ms 200")
    m.throttled_since.seconds = 1796001609
    m.failed.add(id='{"$oid":"6b1216b6e465a7a1e9069600"}', error="E121 Document failed validation")
    recorder.answers["Status"] = pb.StatusResponse(migrations=[m, status("addStatusToStores",
                                                                         pb.MIGRATION_STATE_SUCCEEDED)])
    throttled, done = client.status()
    assert throttled.state is MigrationState.THROTTLED and throttled.state.held
    assert throttled.throttle_reason.startswith("batch writes took 812 ms")
    assert throttled.throttled_since == datetime.datetime(2026, 11, 30, 1, 20, 9, tzinfo=datetime.timezone.utc)
    assert throttled.failed_documents == 3
    assert [(f.id, f.error) for f in throttled.failed] == [('{"$oid":"6b1216b6e465a7a1e9069600"}',
                                                            "E121 Document failed validation")]
    assert throttled.controls is None and done.failed == () and done.throttled_since is None


def test_history_reads_control_events(service):
    recorder, client = service
    record = pb.RunRecord(run_id=RUN_ID, migration="addUsernamesToCustomers", state=pb.MIGRATION_STATE_SUCCEEDED,
                          failed_documents=2)
    record.controls.batch_size = 500
    record.controls.max_failed_documents = 10
    event = record.events.add(action="tune", detail="batch_size 500 -> 100")
    event.by.identity = "x509:CN=oncall"
    event.at.seconds = 1796001609
    record.events.add(action="pause")
    recorder.answers["History"] = pb.HistoryResponse(runs=[record])
    (run,) = client.history("addUsernamesToCustomers").runs
    assert [(e.action, e.detail) for e in run.events] == [("tune", "batch_size 500 -> 100"), ("pause", "")]
    assert run.events[0].by.identity == "x509:CN=oncall" and run.events[1].by is None
    assert run.events[0].at.year == 2026 and run.events[1].at is None
    assert run.failed_documents == 2 and run.controls.max_failed_documents == 10


def test_wait_ends_at_a_pause_and_the_queue_behind_it(service):
    recorder, client = service
    running = [status("addUsernamesToCustomers", pb.MIGRATION_STATE_PAUSING),
               status("addPrivacyToCustomers", pb.MIGRATION_STATE_QUEUED)]
    paused = [status("addUsernamesToCustomers", pb.MIGRATION_STATE_PAUSED),
              status("addPrivacyToCustomers", pb.MIGRATION_STATE_QUEUED)]
    recorder.answers["Status"] = [pb.StatusResponse(migrations=running), pb.StatusResponse(migrations=paused)]
    final = client.wait(poll=0.01, timeout=10)
    assert [s.state for s in final] == [MigrationState.PAUSED, MigrationState.QUEUED]
    assert len([m for m, _ in recorder.requests if m == "Status"]) == 2

    recorder.answers["Status"] = [pb.StatusResponse(migrations=paused)]
    final = client.wait(poll=0.01, run_id=RUN_ID, timeout=10)
    assert final[0].state is MigrationState.PAUSED


def test_wait_goes_on_while_another_runs_queue_moves(service):
    recorder, client = service
    other = status("addPrivacyToCustomers", pb.MIGRATION_STATE_QUEUED)
    other.run_id = "another-run"
    recorder.answers["Status"] = [pb.StatusResponse(migrations=[
        status("addUsernamesToCustomers", pb.MIGRATION_STATE_PAUSED), other])]
    with pytest.raises(MigrationsError) as e:
        client.wait(poll=0.01, timeout=0.2)
    assert e.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
