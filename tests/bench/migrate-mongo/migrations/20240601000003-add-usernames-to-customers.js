// addUsernamesToCustomers: a username from the name, unique (john, john1, john2, ...).
//
// The usual in-memory approach: load every username already taken into a Set, walk the customers
// without one in _id order, probe base, base1, base2, ... against the Set, and write in bulkWrite
// batches; then create the unique by_username index. It assumes nothing else assigns usernames
// while it runs (a concurrent writer could take a name the Set thinks is free).
const { timed, backfill } = require("../lib/backfill");

function usernameBase(name) {
  const base = typeof name === "string" ? name.toLowerCase().replace(/[^a-z0-9]/g, "").slice(0, 12) : "";
  return base || "user";
}

module.exports = {
  async up(db) {
    const customers = db.collection("customers");
    await timed("addUsernamesToCustomers", async () => {
      const taken = new Set();
      for await (const doc of customers.find({ username: { $type: "string" } }, { projection: { username: 1 } })) {
        if (doc.username) taken.add(doc.username);
      }
      const missing = { $or: [{ username: { $exists: false } }, { username: null }, { username: "" }, { username: false }, { username: 0 }] };
      const docs = await backfill(
        customers,
        missing,
        (doc) => {
          const base = usernameBase(doc.name);
          let candidate = base;
          for (let k = 1; taken.has(candidate); k++) candidate = base + k;
          taken.add(candidate);
          return { username: candidate };
        },
        { projection: { name: 1 }, sort: { _id: 1 } },
      );
      await customers.createIndex({ username: 1 }, { unique: true, name: "by_username" });
      return docs;
    });
  },

  async down() {},
};
