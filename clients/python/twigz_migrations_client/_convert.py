"""Protobuf messages to the dataclasses of models.py: the only module that reads generated types."""
from __future__ import annotations

import datetime
from typing import Any, Optional, Tuple

from .models import (Caller, ControlEvent, Controls, FailedDocument, FieldBackfill, HistoryPage, Migration,
                     MigrationState, MigrationStatus, RunRecord, RunResult, TuneResult)


def _time(msg: Any, field: str) -> Optional[datetime.datetime]:
    if not msg.HasField(field):
        return None
    ts = getattr(msg, field)
    return datetime.datetime.fromtimestamp(ts.seconds, tz=datetime.timezone.utc) + datetime.timedelta(
        microseconds=ts.nanos // 1000)


def _controls(msg: Any) -> Optional[Controls]:
    if not msg.HasField("controls"):
        return None
    c = msg.controls
    return Controls(batch_size=c.batch_size, current_batch_size=c.current_batch_size,
                    max_documents_per_second=c.max_documents_per_second,
                    max_replication_lag_ms=c.max_replication_lag_ms, max_write_latency_ms=c.max_write_latency_ms,
                    max_failed_documents=c.max_failed_documents)


def _failed(msg: Any) -> Tuple[FailedDocument, ...]:
    return tuple(FailedDocument(id=f.id, error=f.error) for f in msg.failed)


def status(msg: Any, with_pending: bool = False) -> MigrationStatus:
    return MigrationStatus(
        name=msg.name,
        state=MigrationState(msg.state),
        run_id=msg.run_id,
        total=msg.total,
        processed=msg.processed,
        updated=msg.updated,
        # proto3 int64 has no presence: 0 is indistinguishable from "not asked", so say None.
        pending=msg.pending if with_pending else None,
        cursor=msg.cursor,
        started_at=_time(msg, "started_at"),
        finished_at=_time(msg, "finished_at"),
        error=msg.error,
        skipped=msg.skipped,
        dry_run=msg.dry_run,
        samples=tuple(msg.samples),
        owner=msg.owner,
        drifted=msg.drifted,
        swept_drift=msg.swept_drift,
        controls=_controls(msg),
        throttle_reason=msg.throttle_reason,
        throttled_since=_time(msg, "throttled_since"),
        failed_documents=msg.failed_documents,
        failed=_failed(msg),
    )


def migration(msg: Any) -> Migration:
    return Migration(
        name=msg.name,
        table=msg.table,
        fields=tuple(FieldBackfill(f.field, f.default_value, f.derived_from) for f in msg.fields),
        description=msg.description,
    )


def run_result(msg: Any) -> RunResult:
    return RunResult(run_id=msg.run_id, migrations=tuple(status(m) for m in msg.migrations))


def tune_result(msg: Any) -> TuneResult:
    return TuneResult(migration=status(msg.migration), changes=tuple(msg.changes))


def _caller(msg: Any, field: str) -> Optional[Caller]:
    if not msg.HasField(field):
        return None
    c = getattr(msg, field)
    return Caller(peer=c.peer, identity=c.identity, user_agent=c.user_agent)


def history_page(msg: Any) -> HistoryPage:
    runs = tuple(RunRecord(
        run_id=r.run_id,
        migration=r.migration,
        state=MigrationState(r.state),
        migrations=tuple(r.migrations),
        rerun=r.rerun,
        async_=getattr(r, "async"),
        batch_size=r.batch_size,
        caller=_caller(r, "caller"),
        started_at=_time(r, "started_at"),
        finished_at=_time(r, "finished_at"),
        total=r.total,
        processed=r.processed,
        updated=r.updated,
        error=r.error,
        swept_drift=r.swept_drift,
        canceled_by=_caller(r, "canceled_by"),
        canceled_at=_time(r, "canceled_at"),
        events=tuple(ControlEvent(action=e.action, by=_caller(e, "by"), at=_time(e, "at"), detail=e.detail)
                     for e in r.events),
        failed_documents=r.failed_documents,
        failed=_failed(r),
        controls=_controls(r),
    ) for r in msg.runs)
    return HistoryPage(runs=runs, next_page_token=msg.next_page_token)
