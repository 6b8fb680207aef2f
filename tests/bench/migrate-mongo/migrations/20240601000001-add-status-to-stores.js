// addStatusToStores: status "pending" on stores that have none.
const { timed, backfill } = require("../lib/backfill");

module.exports = {
  async up(db) {
    await timed("addStatusToStores", () =>
      backfill(db.collection("stores"), { status: { $exists: false } }, () => ({ status: "pending" })),
    );
  },

  async down() {
    // A backfill is not undone: the old documents never had these fields to restore.
  },
};
