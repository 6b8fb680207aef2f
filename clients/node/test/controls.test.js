'use strict';
// The client's pause, resume and tune, and run's pacing controls, against an in-process stand-in for
// MigrationService that records each request: what goes on the wire (which wrappers are set), how
// the answers read back, and wait() around paused runs. No database, no service binary.
//
//     node --test clients/node/test/
const test = require('node:test');
const assert = require('node:assert/strict');
const grpc = require('@grpc/grpc-js');
const { loadService } = require('../lib/proto');
const { MigrationsClient, MigrationsError, MigrationState } = require('../lib');

const RUN_ID = '6b1216b6e465a7a1e9069633';
const STATE = (name) => `MIGRATION_STATE_${name}`;

function status(name, state, fields = {}) {
  return { name, state: STATE(state), runId: RUN_ID, total: 900, processed: 120, updated: 118, ...fields };
}

// Answers each method with what the test put in `answers` (a message, an {error} to fail with, or
// a list of those for successive calls, the last repeated); keeps every request.
async function startService(t) {
  const requests = [];
  const answers = {};
  const handler = (method) => (call, callback) => {
    requests.push({ method, request: call.request });
    let answer = answers[method];
    if (Array.isArray(answer)) answer = answer.length > 1 ? answer.shift() : answer[0];
    if (answer && answer.error) callback({ code: answer.error, details: answer.details });
    else callback(null, answer);
  };
  const server = new grpc.Server();
  const methods = ['Run', 'Status', 'Pause', 'Resume', 'Tune', 'History'];
  server.addService(loadService().service, Object.fromEntries(methods.map((m) => [m, handler(m)])));
  const port = await new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  const client = new MigrationsClient(`127.0.0.1:${port}`, { timeoutMs: 10000 });
  t.after(() => {
    client.close();
    server.forceShutdown();
  });
  const last = (method) => requests.filter((r) => r.method === method).at(-1).request;
  return { requests, answers, client, last };
}

test('run leaves controls unset unless given, and sends a zero as a value', async (t) => {
  const { answers, client, last } = await startService(t);
  answers.Run = { runId: RUN_ID, migrations: [] };
  await client.run();
  let req = last('Run');
  for (const field of ['maxDocumentsPerSecond', 'maxReplicationLagMs', 'maxWriteLatencyMs', 'maxFailedDocuments']) {
    assert.equal(req[field], null, field);
  }
  await client.run({ names: 'addUsernamesToCustomers', maxDocumentsPerSecond: 0, maxFailedDocuments: 10, maxWriteLatencyMs: 200 });
  req = last('Run');
  assert.deepEqual(req.maxDocumentsPerSecond, { value: 0 });
  assert.deepEqual(req.maxFailedDocuments, { value: 10 });
  assert.deepEqual(req.maxWriteLatencyMs, { value: 200 });
  assert.equal(req.maxReplicationLagMs, null);
  assert.deepEqual(req.names, ['addUsernamesToCustomers']);
});

test('run refuses control values no service could take', async (t) => {
  const { requests, client } = await startService(t);
  for (const bad of [{ maxDocumentsPerSecond: NaN }, { maxDocumentsPerSecond: Infinity }, { maxDocumentsPerSecond: '50' },
    { maxFailedDocuments: 1.5 }, { maxFailedDocuments: true }, { maxReplicationLagMs: 2 ** 60 }]) {
    await assert.rejects(client.run(bad), RangeError, JSON.stringify(bad));
  }
  assert.equal(requests.length, 0);
});

test('tune sends only the controls given and reads the changes', async (t) => {
  const { answers, client, last } = await startService(t);
  answers.Tune = {
    migration: status('addUsernamesToCustomers', 'RUNNING', {
      controls: { batchSize: 100, currentBatchSize: 100, maxDocumentsPerSecond: 50 },
    }),
    changes: ['batch_size 500 -> 100', 'max_documents_per_second 0 -> 50'],
  };
  const result = await client.tune('addUsernamesToCustomers', { batchSize: 100, maxDocumentsPerSecond: 50 });
  const req = last('Tune');
  assert.equal(req.name, 'addUsernamesToCustomers');
  assert.deepEqual(req.batchSize, { value: 100 });
  assert.deepEqual(req.maxDocumentsPerSecond, { value: 50 });
  assert.equal(req.maxReplicationLagMs, null);
  assert.equal(req.maxWriteLatencyMs, null);
  assert.equal(req.maxFailedDocuments, null);
  assert.deepEqual(result.changes, ['batch_size 500 -> 100', 'max_documents_per_second 0 -> 50']);
  assert.equal(result.migration.state, MigrationState.RUNNING);
  assert.deepEqual(result.migration.controls, {
    batchSize: 100, currentBatchSize: 100, maxDocumentsPerSecond: 50, maxReplicationLagMs: 0, maxWriteLatencyMs: 0,
    maxFailedDocuments: 0,
  });
});

test('tune needs a control, and an out of range one is the service\'s INVALID_ARGUMENT', async (t) => {
  const { requests, answers, client, last } = await startService(t);
  await assert.rejects(client.tune('addUsernamesToCustomers'), /at least one control/);
  await assert.rejects(client.tune('addUsernamesToCustomers', { batchSize: null }), /at least one control/);
  assert.equal(requests.length, 0);
  answers.Tune = { error: grpc.status.INVALID_ARGUMENT, details: 'batch_size must be 1..10000' };
  await assert.rejects(client.tune('addUsernamesToCustomers', { batchSize: 0 }),
    (err) => err instanceof MigrationsError && err.codeName === 'INVALID_ARGUMENT');
  assert.deepEqual(last('Tune').batchSize, { value: 0 });
});

test('pause and resume', async (t) => {
  const { answers, client, last } = await startService(t);
  answers.Pause = { migration: status('addUsernamesToCustomers', 'PAUSING') };
  const paused = await client.pause('addUsernamesToCustomers');
  assert.equal(paused.state, MigrationState.PAUSING);
  assert.equal(last('Pause').name, 'addUsernamesToCustomers');

  answers.Resume = {
    runId: RUN_ID,
    migrations: [status('addUsernamesToCustomers', 'RUNNING'), status('addPrivacyToCustomers', 'QUEUED')],
  };
  const resumed = await client.resume('addUsernamesToCustomers');
  assert.equal(resumed.runId, RUN_ID);
  assert.deepEqual(resumed.migrations.map((m) => m.state), ['RUNNING', 'QUEUED']);

  answers.Resume = { error: grpc.status.FAILED_PRECONDITION, details: 'addUsernamesToCustomers is not paused' };
  await assert.rejects(client.resume('addUsernamesToCustomers'),
    (err) => err.codeName === 'FAILED_PRECONDITION' && !err.retriable);
});

test('a status reads throttling and refused documents', async (t) => {
  const { answers, client } = await startService(t);
  answers.Status = {
    migrations: [
      status('addUsernamesToCustomers', 'THROTTLED', {
        throttleReason: 'batch writes took 812 ms, over max_write_latency_ms 200',
        throttledSince: { seconds: 1796001609, nanos: 0 },
        failedDocuments: 3,
        failed: [{ id: '{"$oid":"6b1216b6e465a7a1e9069600"}', error: 'E121 Document failed validation' }],
      }),
      status('addStatusToStores', 'SUCCEEDED'),
    ],
  };
  const [throttled, done] = await client.status();
  assert.equal(throttled.state, MigrationState.THROTTLED);
  assert.match(throttled.throttleReason, /^batch writes took 812 ms/);
  assert.equal(throttled.throttledSince.toISOString(), '2026-11-30T01:20:09.000Z');
  assert.equal(throttled.failedDocuments, 3);
  assert.deepEqual(throttled.failed, [{ id: '{"$oid":"6b1216b6e465a7a1e9069600"}', error: 'E121 Document failed validation' }]);
  assert.equal(throttled.controls, null);
  assert.deepEqual(done.failed, []);
  assert.equal(done.throttledSince, null);
});

test('history reads control events', async (t) => {
  const { answers, client } = await startService(t);
  answers.History = {
    runs: [{
      runId: RUN_ID,
      migration: 'addUsernamesToCustomers',
      state: STATE('SUCCEEDED'),
      failedDocuments: 2,
      controls: { batchSize: 500, maxFailedDocuments: 10 },
      events: [
        { action: 'tune', detail: 'batch_size 500 -> 100', by: { identity: 'x509:CN=oncall' }, at: { seconds: 1796001609 } },
        { action: 'pause' },
      ],
    }],
  };
  const [run] = (await client.history({ name: 'addUsernamesToCustomers' })).runs;
  assert.deepEqual(run.events.map((e) => [e.action, e.detail]), [['tune', 'batch_size 500 -> 100'], ['pause', '']]);
  assert.equal(run.events[0].by.identity, 'x509:CN=oncall');
  assert.equal(run.events[1].by, null);
  assert.equal(run.events[0].at.getUTCFullYear(), 2026);
  assert.equal(run.events[1].at, null);
  assert.equal(run.failedDocuments, 2);
  assert.equal(run.controls.maxFailedDocuments, 10);
});

test('wait ends at a pause and the queue behind it', async (t) => {
  const { requests, answers, client } = await startService(t);
  const pausing = [status('addUsernamesToCustomers', 'PAUSING'), status('addPrivacyToCustomers', 'QUEUED')];
  const paused = [status('addUsernamesToCustomers', 'PAUSED'), status('addPrivacyToCustomers', 'QUEUED')];
  answers.Status = [{ migrations: pausing }, { migrations: paused }];
  let final = await client.wait({ pollMs: 10, timeoutMs: 10000 });
  assert.deepEqual(final.map((s) => s.state), ['PAUSED', 'QUEUED']);
  assert.equal(requests.filter((r) => r.method === 'Status').length, 2);

  answers.Status = [{ migrations: paused }];
  final = await client.wait({ pollMs: 10, runId: RUN_ID, timeoutMs: 10000 });
  assert.equal(final[0].state, MigrationState.PAUSED);
});

test('wait goes on while another run\'s queue moves', async (t) => {
  const { answers, client } = await startService(t);
  answers.Status = [{
    migrations: [status('addUsernamesToCustomers', 'PAUSED'), { ...status('addPrivacyToCustomers', 'QUEUED'), runId: 'another-run' }],
  }];
  await assert.rejects(client.wait({ pollMs: 10, timeoutMs: 200 }), (err) => err.codeName === 'DEADLINE_EXCEEDED');
});
