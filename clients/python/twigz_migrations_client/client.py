"""MigrationsClient: twigz.migrations.v1.MigrationService over grpcio, with typed answers."""
from __future__ import annotations

import json
import math
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import grpc
from google.protobuf import wrappers_pb2

from . import _convert
from .errors import MigrationsError
from .models import HistoryPage, Migration, MigrationState, MigrationStatus, RunResult, TuneResult

try:
    from ._generated import migration_service_pb2 as pb
    from ._generated import migration_service_pb2_grpc as pb_grpc
except ImportError as e:  # pragma: no cover - only before the stubs were generated
    raise ImportError(
        "twigz_migrations_client: the gRPC stubs are not generated yet; run "
        "`python3 clients/python/generate_stubs.py` (or pip install clients/python)") from e

SERVICE = "twigz.migrations.v1.MigrationService"

# PEM contents (bytes) or the path of a PEM file.
PemSource = Union[bytes, str, "os.PathLike[str]"]
Names = Union[str, Sequence[str]]

# Reads are safe to repeat: gRPC retries them by itself when a replica is briefly unreachable.
# Run, Cancel, Pause, Resume and Tune are left to the caller, who knows whether repeating them is
# what it wants (a second Resume, say, finds the migration no longer paused).
_SERVICE_CONFIG = json.dumps({
    "methodConfig": [{
        "name": [{"service": SERVICE, "method": "List"}, {"service": SERVICE, "method": "Status"},
                 {"service": SERVICE, "method": "History"}],
        "retryPolicy": {
            "maxAttempts": 4,
            "initialBackoff": "0.2s",
            "maxBackoff": "2s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }]
})


def _pem(source: Optional[PemSource]) -> Optional[bytes]:
    if source is None or isinstance(source, bytes):
        return source
    with open(source, "rb") as f:
        return f.read()


def _names(names: Optional[Names]) -> List[str]:
    # A lone string is one name, not a sequence of one-letter names.
    if names is None:
        return []
    if isinstance(names, str):
        return [names]
    return list(names)


def _whole(name: str, value: int, bits: int) -> int:
    # bool is an int to Python, but True as a batch size is surely a mistake.
    if isinstance(value, bool) or not isinstance(value, int) or not -2**(bits - 1) <= value < 2**(bits - 1):
        raise ValueError(f"{name} must be an int of {bits} bits or None, not {value!r}")
    return value


def _pacing(batch_size: Optional[int], max_documents_per_second: Optional[float],
            max_replication_lag_ms: Optional[int], max_write_latency_ms: Optional[int],
            max_failed_documents: Optional[int]) -> Dict[str, Any]:
    """The wrapper fields of a RunRequest or TuneRequest for the controls given. A wrapper left unset
    leaves the control to the service (Run: its default; Tune: as it is), which 0 would not: 0 means
    off. Ranges are the service's to check (INVALID_ARGUMENT names them)."""
    fields: Dict[str, Any] = {}
    if batch_size is not None:
        fields["batch_size"] = wrappers_pb2.Int32Value(value=_whole("batch_size", batch_size, 32))
    if max_documents_per_second is not None:
        rate = max_documents_per_second
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate):
            raise ValueError(f"max_documents_per_second must be a finite number or None, not {rate!r}")
        fields["max_documents_per_second"] = wrappers_pb2.DoubleValue(value=float(rate))
    for name, value in (("max_replication_lag_ms", max_replication_lag_ms),
                        ("max_write_latency_ms", max_write_latency_ms),
                        ("max_failed_documents", max_failed_documents)):
        if value is not None:
            fields[name] = wrappers_pb2.Int64Value(value=_whole(name, value, 64))
    return fields


class MigrationsClient:
    """A client of one twigz-migrations endpoint (any replica will do: they share their state).

    address: "host:port" (or any gRPC target, e.g. "dns:///twigz-migrations-headless:50051").
    token: the bearer token the service was given (--auth-token-file / TWIGZ_AUTH_TOKEN), if any.
    root_certificates, certificate_chain, private_key: PEM bytes or file paths. Any of them, or
        tls=True (system roots), makes the channel TLS; chain and key together give mutual TLS.
    timeout: the deadline in seconds of each call unless the call says otherwise; None: no deadline.
        Per call, timeout=None means this default and math.inf means no deadline.

    Thread-safe; close() it (or use `with`) to release the channel.
    """

    def __init__(self, address: str, token: Optional[str] = None, *,
                 root_certificates: Optional[PemSource] = None,
                 certificate_chain: Optional[PemSource] = None,
                 private_key: Optional[PemSource] = None,
                 tls: bool = False,
                 timeout: Optional[float] = 30.0,
                 options: Sequence[Tuple[str, Any]] = ()) -> None:
        if (certificate_chain is None) != (private_key is None):
            raise ValueError("certificate_chain and private_key go together (mutual TLS)")
        self._metadata: Tuple[Tuple[str, str], ...] = ()
        if token is not None:
            token = token.strip()
            if not token or any(not c.isprintable() for c in token):
                raise ValueError("token must be non-empty printable text")
            self._metadata = (("authorization", f"Bearer {token}"),)
        self.timeout = timeout
        channel_options = [("grpc.service_config", _SERVICE_CONFIG), ("grpc.enable_retries", 1), *options]
        if tls or root_certificates is not None or certificate_chain is not None:
            creds = grpc.ssl_channel_credentials(
                root_certificates=_pem(root_certificates),
                private_key=_pem(private_key),
                certificate_chain=_pem(certificate_chain))
            self._channel = grpc.secure_channel(address, creds, options=channel_options)
        else:
            self._channel = grpc.insecure_channel(address, options=channel_options)
        # The generated stub is untyped; every use of it goes through _call, which is.
        self._stub: Any = pb_grpc.MigrationServiceStub(self._channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "MigrationsClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _deadline(self, timeout: Optional[float]) -> Optional[float]:
        if timeout is None:
            return self.timeout
        return None if math.isinf(timeout) else timeout

    def _call(self, method: str, request: Any, timeout: Optional[float]) -> Any:
        try:
            return getattr(self._stub, method)(request, timeout=self._deadline(timeout), metadata=self._metadata)
        except grpc.RpcError as e:
            code = e.code() if isinstance(e, grpc.Call) else grpc.StatusCode.UNKNOWN
            details = (e.details() if isinstance(e, grpc.Call) else None) or str(e)
            raise MigrationsError(code, details, method) from None

    def list(self, *, timeout: Optional[float] = None) -> List[Migration]:
        """Every registered migration, in registry order."""
        resp = self._call("List", pb.ListRequest(), timeout)
        return [_convert.migration(m) for m in resp.migrations]

    def status(self, names: Optional[Names] = None, include_pending: bool = False, *,
               timeout: Optional[float] = None) -> List[MigrationStatus]:
        """The saved state of the named migrations (all when none are named), in the order asked.

        include_pending adds a live count of the documents each migration still has to do.
        """
        req = pb.StatusRequest(names=_names(names), include_pending=include_pending)
        resp = self._call("Status", req, timeout)
        return [_convert.status(m, include_pending) for m in resp.migrations]

    def run(self, names: Optional[Names] = None, dry_run: bool = False, batch_size: int = 0,
            rerun: bool = False, async_: bool = False, *, max_documents_per_second: Optional[float] = None,
            max_replication_lag_ms: Optional[int] = None, max_write_latency_ms: Optional[int] = None,
            max_failed_documents: Optional[int] = None, timeout: Optional[float] = None) -> RunResult:
        """Runs the named migrations (all when none are named) one after another.

        Answers when the chain ends, or at once with async_ (then follow it with wait()). A sync Run of
        a big collection can outlast the default deadline: prefer async_ and wait(), or pass a timeout.
        The service keeps working when the caller's deadline passes. A Run that reaches a PAUSED
        migration stops there and reports it PAUSED: resume() it instead.

        The pacing controls, None for the service's default (0 turns one off):
        max_documents_per_second, documents written per second at most across batches;
        max_replication_lag_ms, wait while the secondaries lag more (replica sets);
        max_write_latency_ms, wait and shrink the batch while batch writes take longer;
        max_failed_documents, documents the database may refuse one by one (recorded in the status's
        failed_documents and failed, and skipped) before the migration fails, 0..10000.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 0 <= batch_size < 2**31:
            raise ValueError(f"batch_size must be an int in 0..2147483647 (the service takes 0..10000), "
                             f"not {batch_size!r}")
        req = pb.RunRequest(names=_names(names), dry_run=dry_run, batch_size=batch_size, rerun=rerun,
                            **_pacing(None, max_documents_per_second, max_replication_lag_ms,
                                      max_write_latency_ms, max_failed_documents))
        setattr(req, "async", async_)  # `async` is a Python keyword
        return _convert.run_result(self._call("Run", req, timeout))

    def cancel(self, name: str, *, timeout: Optional[float] = None) -> MigrationStatus:
        """Asks the replica running `name` to stop after its current batch; FAILED_PRECONDITION when
        it is not running."""
        resp = self._call("Cancel", pb.CancelRequest(name=name), timeout)
        return _convert.status(resp.migration)

    def pause(self, name: str, *, timeout: Optional[float] = None) -> MigrationStatus:
        """Asks the replica running `name` to stop after its current batch, resumably: the status is
        PAUSING until that batch is written (PAUSED when it had not started), the migrations after it
        in its run wait QUEUED, and nothing counts as failed. FAILED_PRECONDITION when it is not
        QUEUED or running."""
        resp = self._call("Pause", pb.PauseRequest(name=name), timeout)
        return _convert.status(resp.migration)

    def resume(self, name: str, *, timeout: Optional[float] = None) -> RunResult:
        """Goes on with a PAUSED (or PAUSING) migration from its cursor, then with the ones that
        waited behind it, under the paused run's run_id and controls. Answers once they are claimed,
        as an async run() does: follow it with wait([m.name for m in result.migrations],
        run_id=result.run_id) (without names, wait() also waits for migrations the run never had).
        FAILED_PRECONDITION when it is not paused."""
        return _convert.run_result(self._call("Resume", pb.ResumeRequest(name=name), timeout))

    def tune(self, name: str, batch_size: Optional[int] = None, max_documents_per_second: Optional[float] = None,
             max_replication_lag_ms: Optional[int] = None, max_write_latency_ms: Optional[int] = None,
             max_failed_documents: Optional[int] = None, *, timeout: Optional[float] = None) -> TuneResult:
        """Changes the controls of a QUEUED, RUNNING or PAUSED migration; a running one applies them
        from its next batch. None keeps a control as it is; at least one must be given. The controls
        mean what they mean for run(); batch_size is 1..10000 here. INVALID_ARGUMENT for a value out
        of range, FAILED_PRECONDITION when the migration is in no state to be tuned."""
        fields = _pacing(batch_size, max_documents_per_second, max_replication_lag_ms, max_write_latency_ms,
                         max_failed_documents)
        if not fields:
            raise ValueError("tune needs at least one control that is not None")
        return _convert.tune_result(self._call("Tune", pb.TuneRequest(name=name, **fields), timeout))

    def history(self, name: Optional[str] = None, page_size: int = 0, page_token: str = "", *,
                timeout: Optional[float] = None) -> HistoryPage:
        """A page of the run history of `name` (of every migration when None), newest first: who
        ran or canceled what, with which arguments, and how it ended. Pass the page's
        next_page_token to get the next one; page_size 0 is the service's default (20)."""
        req = pb.HistoryRequest(name=name or "", page_size=page_size, page_token=page_token)
        return _convert.history_page(self._call("History", req, timeout))

    def wait(self, names: Optional[Names] = None, poll: float = 1.0, *, run_id: Optional[str] = None,
             timeout: Optional[float] = None,
             on_progress: Optional[Callable[[List[MigrationStatus]], None]] = None) -> List[MigrationStatus]:
        """Polls Status every `poll` seconds until the named migrations stop running; returns their
        final statuses.

        With run_id (from an async run() or resume()) it also waits for the migrations that run's chain
        has not reached yet, and stops early once that run ended one FAILED or CANCELED or it was
        PAUSED (the chain stops there). A migration QUEUED behind a PAUSED one of its run waits for a
        resume(), so it does not keep the wait going. timeout bounds the whole wait (None: forever); when it runs out MigrationsError
        DEADLINE_EXCEEDED is raised. on_progress gets every polled list of statuses. A service that is
        briefly UNAVAILABLE (a replica restarting) is polled again rather than given up on.
        """
        if poll <= 0:
            raise ValueError("poll must be positive")
        deadline = None if timeout is None or math.isinf(timeout) else time.monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise MigrationsError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                      f"migrations still running after {timeout} s", "wait")
            # Each poll gets the client's deadline, cut short by what is left of the wait.
            call_timeout = left if self.timeout is None or (left is not None and left < self.timeout) else None
            try:
                statuses = self.status(names, timeout=call_timeout)
            except MigrationsError as e:
                if e.code is not grpc.StatusCode.UNAVAILABLE:
                    raise
            else:
                if on_progress is not None:
                    on_progress(statuses)
                if _settled(statuses, run_id):
                    return statuses
            time.sleep(poll if left is None else max(0.0, min(poll, left)))


def _settled(statuses: List[MigrationStatus], run_id: Optional[str]) -> bool:
    paused_runs = {s.run_id for s in statuses if s.state is MigrationState.PAUSED and s.run_id}
    if any(s.state.held and not (s.state is MigrationState.QUEUED and s.run_id in paused_runs) for s in statuses):
        return False
    if run_id is None:
        return True
    ours = [s for s in statuses if s.run_id == run_id]
    if any((s.state.finished and s.state is not MigrationState.SUCCEEDED) or s.state is MigrationState.PAUSED
           for s in ours):
        return True
    # Not reached yet: a migration the chain will still start shows an older run (or none). A
    # SUCCEEDED one under another run id was skipped, or finished by a run this one waited for.
    return all(s.state is MigrationState.SUCCEEDED or (s.run_id == run_id and s.state.finished) for s in statuses)
