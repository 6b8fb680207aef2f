// addPrivacyToCustomers: isPrivate true on customers that have none.
const { timed, backfill } = require("../lib/backfill");

module.exports = {
  async up(db) {
    await timed("addPrivacyToCustomers", () =>
      backfill(db.collection("customers"), { isPrivate: { $exists: false } }, () => ({ isPrivate: true })),
    );
  },

  async down() {},
};
