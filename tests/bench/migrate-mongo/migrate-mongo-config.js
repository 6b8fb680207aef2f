// migrate-mongo's configuration for the benchmark: the harness passes the server and database in
// the environment, so one checkout serves every freshly loaded database.
module.exports = {
  mongodb: {
    url: process.env.BENCH_MONGODB_URI || "mongodb://127.0.0.1:27017",
    databaseName: process.env.BENCH_DATABASE || "bench",
    options: {},
  },
  migrationsDir: "migrations",
  changelogCollectionName: "changelog",
  lockCollectionName: "changelog_lock",
  lockTtl: 0,
  migrationFileExtension: ".js",
  useFileHash: false,
  moduleSystem: "commonjs",
};
