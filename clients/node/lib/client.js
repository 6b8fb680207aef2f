'use strict';
// MigrationsClient: twigz.migrations.v1.MigrationService over @grpc/grpc-js, with plain-object answers.
const fs = require('node:fs');
const grpc = require('@grpc/grpc-js');
const { loadService } = require('./proto');
const { MigrationsError } = require('./errors');
const models = require('./models');

const SERVICE = 'twigz.migrations.v1.MigrationService';
const { MigrationState } = models;

// Reads are safe to repeat: gRPC retries them by itself when a replica is briefly unreachable.
// Run, Cancel, Pause, Resume and Tune are left to the caller, who knows whether repeating them is
// what it wants (a second Resume, say, finds the migration no longer paused).
const SERVICE_CONFIG = JSON.stringify({
  methodConfig: [{
    name: [
      { service: SERVICE, method: 'List' },
      { service: SERVICE, method: 'Status' },
      { service: SERVICE, method: 'History' },
    ],
    retryPolicy: {
      maxAttempts: 4,
      initialBackoff: '0.2s',
      maxBackoff: '2s',
      backoffMultiplier: 2,
      retryableStatusCodes: ['UNAVAILABLE'],
    },
  }],
});

// PEM contents (a Buffer) or the path of a PEM file.
function pem(source) {
  if (source === undefined || source === null) return null;
  return Buffer.isBuffer(source) ? source : fs.readFileSync(source);
}

// A lone string is one name, not a list of one-letter names.
function nameList(names) {
  if (names === undefined || names === null) return [];
  if (typeof names === 'string') return [names];
  if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) {
    throw new TypeError('names must be a string or an array of strings');
  }
  return [...names];
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function whole(name, value, max) {
  if (!Number.isSafeInteger(value) || value < -max || value >= max) {
    throw new RangeError(`${name} must be an integer or null, not ${value}`);
  }
  return value;
}

/**
 * The wrapper fields of a RunRequest or TuneRequest for the controls given. One left unset (null or
 * undefined) leaves the control to the service (Run: its default; Tune: as it is), which 0 cannot
 * say: 0 turns it off. Ranges are the service's to check (its INVALID_ARGUMENT names them).
 */
function pacing({ batchSize, maxDocumentsPerSecond, maxReplicationLagMs, maxWriteLatencyMs, maxFailedDocuments }) {
  const fields = {};
  if (batchSize != null) fields.batchSize = { value: whole('batchSize', batchSize, 2 ** 31) };
  if (maxDocumentsPerSecond != null) {
    if (typeof maxDocumentsPerSecond !== 'number' || !Number.isFinite(maxDocumentsPerSecond)) {
      throw new RangeError(`maxDocumentsPerSecond must be a finite number or null, not ${maxDocumentsPerSecond}`);
    }
    fields.maxDocumentsPerSecond = { value: maxDocumentsPerSecond };
  }
  // Int64 wrappers: counts and milliseconds stay far below 2^53, where Numbers are exact.
  const int64s = { maxReplicationLagMs, maxWriteLatencyMs, maxFailedDocuments };
  for (const [name, value] of Object.entries(int64s)) {
    if (value != null) fields[name] = { value: whole(name, value, 2 ** 53) };
  }
  return fields;
}

class MigrationsClient {
  /**
   * A client of one twigz-migrations endpoint (any replica will do: they share their state).
   *
   * @param {string} address "host:port", or any gRPC target ("dns:///twigz-migrations-headless:50051").
   * @param {object} [options]
   * @param {string} [options.token] the bearer token the service was given, if any.
   * @param {Buffer|string} [options.rootCerts] CA certificate (PEM contents or file path): turns TLS on.
   * @param {Buffer|string} [options.certChain] client certificate, with privateKey: mutual TLS.
   * @param {Buffer|string} [options.privateKey]
   * @param {boolean} [options.tls] TLS with the system's roots.
   * @param {number|null} [options.timeoutMs=30000] each call's deadline unless the call says otherwise;
   *   null or Infinity: none.
   * @param {object} [options.channelOptions] extra gRPC channel options.
   * @param {string} [options.protoDir] where twigz/migrations/v1/migration_service.proto is.
   */
  constructor(address, options = {}) {
    const { token, rootCerts, certChain, privateKey, tls = false, timeoutMs = 30000, channelOptions = {} } = options;
    if ((certChain == null) !== (privateKey == null)) {
      throw new TypeError('certChain and privateKey go together (mutual TLS)');
    }
    this.metadata = new grpc.Metadata();
    if (token !== undefined && token !== null) {
      const t = String(token).trim();
      if (!t || !/^[\x20-\x7e]+$/.test(t)) throw new TypeError('token must be non-empty printable ASCII');
      this.metadata.set('authorization', `Bearer ${t}`);
    }
    this.timeoutMs = timeoutMs;
    const credentials = tls || rootCerts != null || certChain != null
      ? grpc.credentials.createSsl(pem(rootCerts), pem(privateKey), pem(certChain))
      : grpc.credentials.createInsecure();
    const Service = loadService(options.protoDir);
    this.stub = new Service(address, credentials, {
      'grpc.service_config': SERVICE_CONFIG,
      ...channelOptions,
    });
  }

  /** Releases the channel. */
  close() {
    this.stub.close();
  }

  call(method, request, timeoutMs) {
    const ms = timeoutMs === undefined ? this.timeoutMs : timeoutMs;
    const callOptions = ms === null || ms === Infinity ? {} : { deadline: new Date(Date.now() + ms) };
    return new Promise((resolve, reject) => {
      this.stub[method](request, this.metadata, callOptions, (err, response) => {
        if (err) reject(MigrationsError.fromGrpc(err, method));
        else resolve(response);
      });
    });
  }

  /** Every registered migration, in registry order. */
  async list({ timeoutMs } = {}) {
    const resp = await this.call('List', {}, timeoutMs);
    return resp.migrations.map(models.migration);
  }

  /**
   * A page of the run history of `name` (every migration's when none), newest first: who ran or
   * canceled what, with which arguments, and how it ended. Pass nextPageToken back for the next
   * page ('' on the last); pageSize 0 is the service's default (20).
   */
  async history({ name = '', pageSize = 0, pageToken = '', timeoutMs } = {}) {
    const resp = await this.call('History', { name, pageSize, pageToken }, timeoutMs);
    return models.historyPage(resp);
  }

  /**
   * The saved state of the named migrations (all when none are named), in the order asked;
   * includePending adds a live count of the documents each still has to do.
   */
  async status({ names, includePending = false, timeoutMs } = {}) {
    const resp = await this.call('Status', { names: nameList(names), includePending }, timeoutMs);
    return resp.migrations.map((m) => models.status(m, includePending));
  }

  /**
   * Runs the named migrations (all when none are named) one after another. Answers when the chain
   * ends, or at once with async (then follow it with wait()). A sync Run of a big collection can
   * outlast the default deadline: prefer async and wait(), or pass timeoutMs. The service keeps
   * working when the caller's deadline passes. A Run that reaches a PAUSED migration stops there and
   * reports it PAUSED: resume() it instead.
   *
   * The pacing controls, null or left out for the service's default (0 turns one off):
   * maxDocumentsPerSecond, documents written per second at most across batches; maxReplicationLagMs,
   * wait while the secondaries lag more (replica sets); maxWriteLatencyMs, wait and shrink the batch
   * while batch writes take longer; maxFailedDocuments, documents the database may refuse one by
   * one (recorded in the status's failedDocuments and failed, and skipped) before the migration
   * fails, 0..10000.
   */
  async run({
    names, dryRun = false, batchSize = 0, rerun = false, async = false, maxDocumentsPerSecond,
    maxReplicationLagMs, maxWriteLatencyMs, maxFailedDocuments, timeoutMs,
  } = {}) {
    if (!Number.isInteger(batchSize) || batchSize < 0 || batchSize > 2147483647) {
      throw new RangeError(`batchSize must be an integer in 0..2147483647 (the service takes 0..10000), not ${batchSize}`);
    }
    const request = {
      names: nameList(names),
      dryRun: !!dryRun,
      batchSize,
      rerun: !!rerun,
      async: !!async,
      ...pacing({ maxDocumentsPerSecond, maxReplicationLagMs, maxWriteLatencyMs, maxFailedDocuments }),
    };
    return models.runResult(await this.call('Run', request, timeoutMs));
  }

  /** Asks the replica running `name` to stop after its current batch; FAILED_PRECONDITION when idle. */
  async cancel(name, { timeoutMs } = {}) {
    if (typeof name !== 'string') throw new TypeError('name must be a string');
    const resp = await this.call('Cancel', { name }, timeoutMs);
    return models.status(resp.migration);
  }

  /**
   * Asks the replica running `name` to stop after its current batch, resumably: the status is
   * PAUSING until that batch is written (PAUSED when it had not started), the migrations after it in
   * its run wait QUEUED, and nothing counts as failed. FAILED_PRECONDITION when it is not running.
   */
  async pause(name, { timeoutMs } = {}) {
    if (typeof name !== 'string') throw new TypeError('name must be a string');
    const resp = await this.call('Pause', { name }, timeoutMs);
    return models.status(resp.migration);
  }

  /**
   * Goes on with a PAUSED (or PAUSING) migration from its cursor, then with the ones that waited
   * behind it, under the paused run's runId and controls. Resolves once they are claimed, as an
   * async run() does: follow it with wait({ names: result.migrations.map((m) => m.name), runId })
   * (without names, wait() also waits for migrations the run never had). FAILED_PRECONDITION when
   * it is not paused.
   */
  async resume(name, { timeoutMs } = {}) {
    if (typeof name !== 'string') throw new TypeError('name must be a string');
    return models.runResult(await this.call('Resume', { name }, timeoutMs));
  }

  /**
   * Changes the controls of a QUEUED, RUNNING or PAUSED migration; a running one applies them from
   * its next batch. Controls left out (or null) keep their value; at least one must be given. They
   * mean what they mean for run(); batchSize is 1..10000 here. Resolves to { migration, changes },
   * changes one line per control changed ("batch_size 500 -> 100"). INVALID_ARGUMENT for a value out
   * of range, FAILED_PRECONDITION when the migration is in no state to be tuned.
   */
  async tune(name, {
    batchSize, maxDocumentsPerSecond, maxReplicationLagMs, maxWriteLatencyMs, maxFailedDocuments, timeoutMs,
  } = {}) {
    if (typeof name !== 'string') throw new TypeError('name must be a string');
    const fields = pacing({ batchSize, maxDocumentsPerSecond, maxReplicationLagMs, maxWriteLatencyMs, maxFailedDocuments });
    if (Object.keys(fields).length === 0) throw new TypeError('tune needs at least one control that is not null');
    return models.tuneResult(await this.call('Tune', { name, ...fields }, timeoutMs));
  }

  /**
   * Polls Status every pollMs until the named migrations stop running; resolves to their final
   * statuses. With runId (from an async run() or resume()) it also waits for migrations that run's
   * chain has not reached yet, and stops early once that run ended one FAILED or CANCELED or was
   * PAUSED. A migration QUEUED behind a PAUSED one of its run waits for a resume, so it does not keep
   * the wait going. timeoutMs bounds the
   * whole wait (default: none; then MigrationsError DEADLINE_EXCEEDED). onProgress gets every polled
   * list. A briefly UNAVAILABLE service (a replica restarting) is polled again, not given up on.
   */
  async wait({ names, runId = null, pollMs = 1000, timeoutMs = null, onProgress } = {}) {
    if (!(pollMs > 0)) throw new RangeError('pollMs must be positive');
    const deadline = timeoutMs === null || timeoutMs === Infinity ? null : Date.now() + timeoutMs;
    for (;;) {
      const left = deadline === null ? null : deadline - Date.now();
      if (left !== null && left <= 0) {
        throw new MigrationsError(grpc.status.DEADLINE_EXCEEDED, `migrations still running after ${timeoutMs} ms`, 'wait');
      }
      // Each poll gets the client's deadline, cut short by what is left of the wait.
      const callMs = left !== null && (this.timeoutMs === null || left < this.timeoutMs) ? left : undefined;
      let statuses = null;
      try {
        statuses = await this.status({ names, timeoutMs: callMs });
      } catch (err) {
        if (!(err instanceof MigrationsError) || err.code !== grpc.status.UNAVAILABLE) throw err;
      }
      if (statuses) {
        if (onProgress) onProgress(statuses);
        if (settled(statuses, runId)) return statuses;
      }
      await sleep(left === null ? pollMs : Math.max(0, Math.min(pollMs, left)));
    }
  }
}

function settled(statuses, runId) {
  const pausedRuns = new Set(statuses.filter((s) => s.state === MigrationState.PAUSED && s.runId).map((s) => s.runId));
  const waitsForResume = (s) => s.state === MigrationState.QUEUED && pausedRuns.has(s.runId);
  if (statuses.some((s) => models.isHeld(s) && !waitsForResume(s))) return false;
  if (runId === null) return true;
  const ours = statuses.filter((s) => s.runId === runId);
  const stopped = (s) => (models.isFinished(s) && s.state !== MigrationState.SUCCEEDED) || s.state === MigrationState.PAUSED;
  if (ours.some(stopped)) return true;
  // Not reached yet: a migration the chain will still start shows an older run (or none). A
  // SUCCEEDED one under another run id was skipped, or finished by a run this one waited for.
  return statuses.every((s) => s.state === MigrationState.SUCCEEDED || (s.runId === runId && models.isFinished(s)));
}

module.exports = { MigrationsClient };
