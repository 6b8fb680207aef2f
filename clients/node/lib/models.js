'use strict';
// Messages as proto-loader decodes them, turned into plain objects with JavaScript types.

/** Where a migration stands; the proto's MigrationState without its prefix. */
const MigrationState = Object.freeze({
  UNSPECIFIED: 'UNSPECIFIED',
  PENDING: 'PENDING',
  RUNNING: 'RUNNING',
  SUCCEEDED: 'SUCCEEDED',
  FAILED: 'FAILED',
  CANCELED: 'CANCELED',
  QUEUED: 'QUEUED',
  CANCELING: 'CANCELING',
  INTERRUPTED: 'INTERRUPTED',
  PAUSED: 'PAUSED',
  PAUSING: 'PAUSING',
  THROTTLED: 'THROTTLED',
});

// PAUSED is not among them: its run goes on once resumed.
const FINISHED = new Set([
  MigrationState.SUCCEEDED, MigrationState.FAILED, MigrationState.CANCELED, MigrationState.INTERRUPTED,
]);
// A run holds it: it has not settled yet. A PAUSED one has: nothing moves until a resume.
const HELD = new Set([
  MigrationState.QUEUED, MigrationState.RUNNING, MigrationState.THROTTLED, MigrationState.CANCELING,
  MigrationState.PAUSING,
]);

function state(value) {
  // A newer server may add states (decoded as numbers or unknown names): read them as UNSPECIFIED.
  const name = typeof value === 'string' ? value.replace(/^MIGRATION_STATE_/, '') : '';
  return Object.prototype.hasOwnProperty.call(MigrationState, name) ? name : MigrationState.UNSPECIFIED;
}

function time(ts) {
  if (!ts) return null;
  return new Date(Number(ts.seconds) * 1000 + Math.floor(Number(ts.nanos || 0) / 1e6));
}

function controls(msg) {
  if (!msg) return null;
  return {
    batchSize: msg.batchSize,
    currentBatchSize: msg.currentBatchSize,
    maxDocumentsPerSecond: msg.maxDocumentsPerSecond,
    maxReplicationLagMs: Number(msg.maxReplicationLagMs),
    maxWriteLatencyMs: Number(msg.maxWriteLatencyMs),
    maxFailedDocuments: Number(msg.maxFailedDocuments),
  };
}

function failedDocuments(list) {
  return list.map((f) => ({ id: f.id, error: f.error }));
}

function status(msg, withPending = false) {
  return {
    name: msg.name,
    state: state(msg.state),
    runId: msg.runId,
    total: Number(msg.total),
    processed: Number(msg.processed),
    updated: Number(msg.updated),
    // proto3 int64 has no presence: 0 cannot be told from "not asked", so say null.
    pending: withPending ? Number(msg.pending) : null,
    cursor: msg.cursor,
    startedAt: time(msg.startedAt),
    finishedAt: time(msg.finishedAt),
    error: msg.error,
    skipped: msg.skipped,
    dryRun: msg.dryRun,
    samples: [...msg.samples],
    owner: msg.owner,
    drifted: msg.drifted,
    sweptDrift: msg.sweptDrift,
    controls: controls(msg.controls),
    throttleReason: msg.throttleReason,
    throttledSince: time(msg.throttledSince),
    failedDocuments: Number(msg.failedDocuments),
    failed: failedDocuments(msg.failed),
  };
}

function migration(msg) {
  return {
    name: msg.name,
    table: msg.table,
    fields: msg.fields.map((f) => ({ field: f.field, defaultValue: f.defaultValue, derivedFrom: f.derivedFrom })),
    description: msg.description,
  };
}

function caller(msg) {
  return msg ? { peer: msg.peer, identity: msg.identity, userAgent: msg.userAgent } : null;
}

function runRecord(msg) {
  return {
    runId: msg.runId,
    migration: msg.migration,
    state: state(msg.state),
    migrations: [...msg.migrations],
    rerun: msg.rerun,
    async: msg.async,
    batchSize: msg.batchSize,
    caller: caller(msg.caller),
    startedAt: time(msg.startedAt),
    finishedAt: time(msg.finishedAt),
    total: Number(msg.total),
    processed: Number(msg.processed),
    updated: Number(msg.updated),
    error: msg.error,
    sweptDrift: msg.sweptDrift,
    canceledBy: caller(msg.canceledBy),
    canceledAt: time(msg.canceledAt),
    events: msg.events.map((e) => ({ action: e.action, by: caller(e.by), at: time(e.at), detail: e.detail })),
    failedDocuments: Number(msg.failedDocuments),
    failed: failedDocuments(msg.failed),
    controls: controls(msg.controls),
  };
}

function historyPage(msg) {
  return { runs: msg.runs.map(runRecord), nextPageToken: msg.nextPageToken };
}

function runResult(msg) {
  return { runId: msg.runId, migrations: msg.migrations.map((m) => status(m)) };
}

function tuneResult(msg) {
  return { migration: status(msg.migration), changes: [...msg.changes] };
}

/** True once a run of it has ended, whichever way. */
function isFinished(s) {
  return FINISHED.has(s.state);
}

function isHeld(s) {
  return HELD.has(s.state);
}

/** The dry-run samples decoded: one object each (_id and the fields it would set). */
function plannedChanges(s) {
  return s.samples.map((sample) => JSON.parse(sample));
}

module.exports = {
  MigrationState, status, migration, runResult, tuneResult, historyPage, isFinished, isHeld, plannedChanges,
};
