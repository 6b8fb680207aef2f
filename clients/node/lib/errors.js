'use strict';
const { status: Status } = require('@grpc/grpc-js');

const CODE_NAMES = Object.fromEntries(Object.entries(Status).map(([name, code]) => [code, name]));
const RETRIABLE = new Set([Status.UNAVAILABLE, Status.ABORTED, Status.RESOURCE_EXHAUSTED]);

/**
 * A MigrationService call failed. `code` is the gRPC status code (a number, compare with
 * grpc.status.X) and `codeName` its name: INVALID_ARGUMENT (unknown migration, batch size or another
 * control out of range), FAILED_PRECONDITION (Cancel or Pause of a migration that is not running,
 * Resume of one that is not paused, Tune of one not QUEUED, RUNNING or PAUSED), UNAUTHENTICATED,
 * UNAVAILABLE (retry), DEADLINE_EXCEEDED.
 */
class MigrationsError extends Error {
  constructor(code, details, method = '') {
    const codeName = CODE_NAMES[code] || 'UNKNOWN';
    super(`${method ? `${method}: ` : ''}${codeName}: ${details}`);
    this.name = 'MigrationsError';
    this.code = code;
    this.codeName = codeName;
    this.details = details;
    this.method = method;
  }

  /** True for codes where trying again later may succeed. */
  get retriable() {
    return RETRIABLE.has(this.code);
  }

  /** Wraps an error from @grpc/grpc-js. */
  static fromGrpc(err, method) {
    const code = typeof err.code === 'number' ? err.code : Status.UNKNOWN;
    return new MigrationsError(code, err.details || err.message, method);
  }
}

module.exports = { MigrationsError };
