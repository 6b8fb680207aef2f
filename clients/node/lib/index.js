'use strict';
// A Node.js client for twigz-migrations (gRPC service twigz.migrations.v1.MigrationService).
const { MigrationsClient } = require('./client');
const { MigrationsError } = require('./errors');
const { MigrationState, isFinished, plannedChanges } = require('./models');

module.exports = { MigrationsClient, MigrationsError, MigrationState, isFinished, plannedChanges };
