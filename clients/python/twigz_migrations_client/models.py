"""The values MigrationsClient returns: plain frozen dataclasses, independent of protobuf.

They mirror twigz.migrations.v1 (proto/twigz/migrations/v1/migration_service.proto) field for field,
with Python types: an IntEnum state, datetimes in UTC, tuples for repeated fields.
"""
from __future__ import annotations

import datetime
import enum
import json
from dataclasses import dataclass
from typing import Any, Optional, Tuple


class MigrationState(enum.IntEnum):
    """Where a migration stands; values equal the proto's MigrationState numbers."""

    UNSPECIFIED = 0
    PENDING = 1
    RUNNING = 2
    SUCCEEDED = 3
    FAILED = 4
    CANCELED = 5
    QUEUED = 6
    CANCELING = 7
    INTERRUPTED = 8
    PAUSED = 9
    PAUSING = 10
    THROTTLED = 11

    @classmethod
    def _missing_(cls, value: object) -> "MigrationState":
        # A newer server may add states; an old client must still read the answer.
        return cls.UNSPECIFIED

    @property
    def finished(self) -> bool:
        """True once a run of it has ended, whichever way. PAUSED has not: resume() goes on."""
        return self in (MigrationState.SUCCEEDED, MigrationState.FAILED, MigrationState.CANCELED,
                        MigrationState.INTERRUPTED)

    @property
    def held(self) -> bool:
        """True while a run holds it (QUEUED, RUNNING, THROTTLED, CANCELING or PAUSING): it has not
        settled yet. A PAUSED one has: nothing moves until resume()."""
        return self in (MigrationState.QUEUED, MigrationState.RUNNING, MigrationState.THROTTLED,
                        MigrationState.CANCELING, MigrationState.PAUSING)


@dataclass(frozen=True)
class FieldBackfill:
    """One field a migration sets on documents that miss it."""

    field: str
    default_value: str  # JSON text of a constant default ('"pending"', 'false'); "" when derived
    derived_from: str  # the source of a derived value ("name"); "" for constants

    @property
    def default(self) -> Any:
        """The constant default decoded from JSON; None for a derived field."""
        return json.loads(self.default_value) if self.default_value else None


@dataclass(frozen=True)
class Migration:
    """One registered migration, as List describes it."""

    name: str
    table: str
    fields: Tuple[FieldBackfill, ...]
    description: str


@dataclass(frozen=True)
class Controls:
    """How a run paces itself, as it applies them now."""

    batch_size: int  # documents per batch, as asked (run() or tune())
    current_batch_size: int  # per batch now: smaller than batch_size after slow batches
    max_documents_per_second: float  # 0: no limit
    max_replication_lag_ms: int  # 0: off
    max_write_latency_ms: int  # 0: off
    max_failed_documents: int  # 0: the first refused document fails the migration


@dataclass(frozen=True)
class FailedDocument:
    """A document the database refused, recorded and skipped under the error budget."""

    id: str  # its _id as canonical extended JSON
    error: str  # the server's error, e.g. "E121 Document failed validation"


@dataclass(frozen=True)
class MigrationStatus:
    """The state of one migration, as Run, Status and Cancel report it."""

    name: str
    state: MigrationState
    run_id: str
    total: int
    processed: int
    updated: int
    pending: Optional[int]  # None unless include_pending was asked
    cursor: str
    started_at: Optional[datetime.datetime]
    finished_at: Optional[datetime.datetime]
    error: str
    skipped: bool
    dry_run: bool
    samples: Tuple[str, ...]
    owner: str
    drifted: bool = False  # SUCCEEDED, yet include_pending counted documents matching again
    swept_drift: bool = False  # in a Run's answer: it had drifted and this run swept it
    controls: Optional[Controls] = None  # its run's controls; None when it never had a run
    throttle_reason: str = ""  # THROTTLED: why it waits
    throttled_since: Optional[datetime.datetime] = None
    failed_documents: int = 0  # documents refused and skipped under the error budget
    failed: Tuple[FailedDocument, ...] = ()  # the first of them (up to 10)

    def planned_changes(self) -> Tuple[Any, ...]:
        """The dry-run samples decoded: one JSON object each (_id and the fields it would set)."""
        return tuple(json.loads(s) for s in self.samples)


@dataclass(frozen=True)
class RunResult:
    """What Run answered: its id and one status per asked migration, in run order."""

    run_id: str
    migrations: Tuple[MigrationStatus, ...]

    @property
    def succeeded(self) -> bool:
        """True when every migration ended SUCCEEDED (skipped ones included)."""
        return all(m.state is MigrationState.SUCCEEDED for m in self.migrations)


@dataclass(frozen=True)
class Caller:
    """Who made a call, as the service saw it."""
    peer: str
    identity: str  # "x509:<subject>" under mutual TLS, "token:<name>" with a bearer token, or ""
    user_agent: str


@dataclass(frozen=True)
class TuneResult:
    """What tune() answered: the migration with its new controls, and one line per change made
    (e.g. "batch_size 500 -> 100"; none when the controls already held the values)."""

    migration: MigrationStatus
    changes: Tuple[str, ...]


@dataclass(frozen=True)
class ControlEvent:
    """A pause, resume, tune or cancel of a run, from the run history."""
    action: str  # "pause", "resume", "tune" or "cancel"
    by: Optional[Caller]
    at: Optional[datetime.datetime]
    detail: str  # tune: what changed, e.g. "batch_size 500 -> 100"


@dataclass(frozen=True)
class RunRecord:
    """One migration's part in one run, from the run history."""
    run_id: str
    migration: str
    state: MigrationState
    migrations: Tuple[str, ...]
    rerun: bool
    async_: bool
    batch_size: int
    caller: Optional[Caller]
    started_at: Optional[datetime.datetime]
    finished_at: Optional[datetime.datetime]
    total: int
    processed: int
    updated: int
    error: str
    swept_drift: bool
    canceled_by: Optional[Caller]
    canceled_at: Optional[datetime.datetime]
    events: Tuple[ControlEvent, ...] = ()  # oldest first
    failed_documents: int = 0
    failed: Tuple[FailedDocument, ...] = ()
    controls: Optional[Controls] = None  # as the run started (events say how tune changed them)


@dataclass(frozen=True)
class HistoryPage:
    """A page of the run history, newest first; next_page_token is "" on the last page."""
    runs: Tuple[RunRecord, ...]
    next_page_token: str
