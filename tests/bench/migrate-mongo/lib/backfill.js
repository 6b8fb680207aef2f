// What the four up() scripts share, written the way a migrate-mongo script usually is: a cursor
// over the documents still missing the field, updates queued per document and flushed with
// bulkWrite every BATCH documents.
//
// BATCH would usually be 1,000; it is 40 because FerretDB v1.24.2 hangs on an update command of 50
// or more statements over PostgreSQL (100 or more on SQLite): each statement holds a pooled
// connection until the command ends. See tests/bench/limit.py.
const fs = require("fs");

const BATCH = 40;

// Runs work() and appends {"migration", "docs", "seconds"} to $BENCH_TIMINGS (the harness reads
// it): only the up() body is timed, not node's start or migrate-mongo's own bookkeeping.
async function timed(name, work) {
  const t0 = process.hrtime.bigint();
  const docs = await work();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (process.env.BENCH_TIMINGS) {
    fs.appendFileSync(process.env.BENCH_TIMINGS, JSON.stringify({ migration: name, docs, seconds }) + "\n");
  }
}

// Streams find(filter) through plan(doc) -> $set document (or null to skip) in bulkWrite batches.
async function backfill(collection, filter, plan, findOptions = {}) {
  let ops = [];
  let docs = 0;
  for await (const doc of collection.find(filter, findOptions)) {
    const set = plan(doc);
    if (!set) continue;
    ops.push({ updateOne: { filter: { _id: doc._id }, update: { $set: set } } });
    docs++;
    if (ops.length === BATCH) {
      await collection.bulkWrite(ops, { ordered: false });
      ops = [];
    }
  }
  if (ops.length) await collection.bulkWrite(ops, { ordered: false });
  return docs;
}

module.exports = { timed, backfill };
