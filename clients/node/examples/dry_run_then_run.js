#!/usr/bin/env node
'use strict';
// Plans the TWIGZ migrations with a dry run, then runs them for real and follows their progress.
//
//   node dry_run_then_run.js [--addr HOST:PORT] [--token-file F] [--tls-ca F [--tls-cert F --tls-key F]]
//                            [--batch-size N] [--poll SECONDS] [NAME...]
//
// No NAME: every migration. The token comes from --token-file or TWIGZ_AUTH_TOKEN; the address from
// --addr or TWIGZ_MIGRATIONS_ADDR (default 127.0.0.1:50051).
// Exit status: 0 every migration SUCCEEDED (or was already done), 1 one ended FAILED or CANCELED,
// 2 bad arguments, 3 a call to the service failed.
const fs = require('node:fs');
const { parseArgs } = require('node:util');
const { MigrationsClient, MigrationsError, MigrationState, isFinished } = require('..');

const say = (line = '') => process.stdout.write(`${line}\n`);

function describe(s) {
  let line = `${s.name}: ${s.state} ${s.processed}/${s.total}`;
  if (isFinished(s)) line += `, ${s.updated} updated`;
  if (s.error) line += `: ${s.error}`;
  return line;
}

async function dryRun(client, names, batchSize) {
  const planned = await client.run({ names, dryRun: true, batchSize });
  say(`dry run ${planned.runId}: nothing written`);
  for (const m of planned.migrations) {
    if (m.skipped) {
      say(`  ${m.name}: already done, would be skipped`);
      continue;
    }
    say(`  ${m.name}: ${m.updated} of ${m.total} documents would change`);
    for (const sample of m.samples) say(`    ${sample}`);
  }
}

async function realRun(client, names, batchSize, pollMs) {
  const started = await client.run({ names, batchSize, async: true });
  say(`run ${started.runId} started: ${started.migrations.map((m) => m.name).join(', ')}`);
  const last = new Map();
  const progress = (statuses) => {
    for (const s of statuses) {
      const seen = `${s.state} ${s.processed} ${s.updated} ${s.runId}`;
      if (last.get(s.name) !== seen) {
        last.set(s.name, seen);
        say(`  ${describe(s)}`);
      }
    }
  };
  const final = await client.wait({
    names: started.migrations.map((m) => m.name), runId: started.runId, pollMs, onProgress: progress,
  });
  const skipped = started.migrations.filter((m) => m.skipped).length;
  const done = final.filter((s) => s.state === MigrationState.SUCCEEDED).length;
  const failed = final.filter((s) => s.state === MigrationState.FAILED || s.state === MigrationState.CANCELED);
  say(`done: ${done} succeeded (${skipped} already done), ${failed.length} failed or canceled`);
  return failed.length === 0;
}

function usage(message) {
  process.stderr.write(`dry_run_then_run: ${message}\n`);
  process.exit(2);
}

async function main() {
  let args;
  try {
    args = parseArgs({
      allowPositionals: true,
      options: {
        addr: { type: 'string', default: process.env.TWIGZ_MIGRATIONS_ADDR || '127.0.0.1:50051' },
        'token-file': { type: 'string' },
        'tls-ca': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'batch-size': { type: 'string', default: '0' },
        poll: { type: 'string', default: '0.5' },
      },
    });
  } catch (err) {
    return usage(err.message);
  }
  const { values: o, positionals: names } = args;
  const batchSize = Number(o['batch-size']);
  const pollSeconds = Number(o.poll);
  if (!Number.isInteger(batchSize)) usage('--batch-size must be an integer');
  if (!(pollSeconds > 0)) usage('--poll must be a positive number of seconds');
  if ((o['tls-cert'] === undefined) !== (o['tls-key'] === undefined)) usage('--tls-cert and --tls-key go together');

  let client;
  try {
    const token = o['token-file'] ? fs.readFileSync(o['token-file'], 'utf8') : process.env.TWIGZ_AUTH_TOKEN;
    client = new MigrationsClient(o.addr, {
      token, rootCerts: o['tls-ca'], certChain: o['tls-cert'], privateKey: o['tls-key'],
    });
  } catch (err) {
    return usage(err.message);
  }
  try {
    await dryRun(client, names, batchSize);
    return (await realRun(client, names, batchSize, pollSeconds * 1000)) ? 0 : 1;
  } catch (err) {
    if (!(err instanceof MigrationsError) && !(err instanceof RangeError)) throw err;
    say(`error: ${err.message}`);
    return 3;
  } finally {
    client.close();
  }
}

main().then((code) => { process.exitCode = code; });
