// ensureStoreFields: status "pending" and phoneNumberVerified false, only where missing.
const { timed, backfill } = require("../lib/backfill");

module.exports = {
  async up(db) {
    const filter = { $or: [{ status: { $exists: false } }, { phoneNumberVerified: { $exists: false } }] };
    await timed("ensureStoreFields", () =>
      backfill(db.collection("stores"), filter, (doc) => {
        const set = {};
        if (!("status" in doc)) set.status = "pending";
        if (!("phoneNumberVerified" in doc)) set.phoneNumberVerified = false;
        return Object.keys(set).length ? set : null;
      }),
    );
  },

  async down() {},
};
