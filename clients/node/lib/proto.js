'use strict';
// Loads twigz.migrations.v1 from the .proto at run time (no generated code).
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_FILE = 'twigz/migrations/v1/migration_service.proto';

// A packed copy (npm pack runs scripts/copy-proto.js) first, then the repository's proto/.
function findProtoDir(explicit) {
  const candidates = [
    explicit,
    process.env.TWIGZ_PROTO_DIR,
    path.join(__dirname, '..', 'proto'),
    path.join(__dirname, '..', '..', '..', 'proto'),
  ].filter(Boolean);
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, PROTO_FILE)));
  if (!found) {
    throw new Error(`twigz-migrations client: ${PROTO_FILE} not found in ${candidates.join(', ')} ` +
                    '(pass protoDir or set TWIGZ_PROTO_DIR)');
  }
  return found;
}

const cache = new Map();

/** The MigrationService client constructor for the .proto under protoDir; loaded once per directory. */
function loadService(protoDir) {
  const dir = findProtoDir(protoDir);
  if (!cache.has(dir)) {
    const definition = protoLoader.loadSync(PROTO_FILE, {
      includeDirs: [dir],
      keepCase: false, // runId, dryRun: the proto3 JSON names
      longs: Number, // counts of documents stay far below 2^53
      enums: String,
      defaults: true,
      oneofs: true,
    });
    cache.set(dir, grpc.loadPackageDefinition(definition).twigz.migrations.v1.MigrationService);
  }
  return cache.get(dir);
}

module.exports = { loadService, PROTO_FILE };
