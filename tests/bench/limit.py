"""The limit: what no approach can beat on the same server.

Constant backfills: one server-side updateMany per field (ensureStoreFields: two), so the server
does all the work in one command each. Usernames: the harness reads every customer and computes all
usernames before the clock starts, then one bulk_write of UpdateOne({_id}, $set) sends them, and
by_username is built once at the end (the service's run leaves that unique index too).

FerretDB v1.24.2 keeps every statement's query open until an update command ends, one pooled
database connection each, and waits forever for another connection to write: a command of 100 or
more statements (SQLite: 100 connections per database) or 50 or more (PostgreSQL: 50 in all)
never answers. So the bulk write goes out in commands of STATEMENTS updates.
"""
import time

from pymongo import UpdateOne

import spec

STATEMENTS = 40
from usernames import plan


def migrate(coll, m):
    docs = coll.count_documents(m.filter())
    if m.derived:
        customers = list(coll.find({}, {"name": 1, "username": 1}).sort("_id", 1))
        ops = [UpdateOne({"_id": _id}, {"$set": {"username": u}}) for _id, u in plan(customers)]
        t0 = time.monotonic()
        for start in range(0, len(ops), STATEMENTS):
            coll.bulk_write(ops[start:start + STATEMENTS], ordered=False)
        coll.create_index("username", unique=True, name="by_username")
    else:
        t0 = time.monotonic()
        for field, value in m.defaults:
            coll.update_many(spec.absent(field), {"$set": {field: value}})
    return {"migration": m.name, "docs": docs, "seconds": time.monotonic() - t0, "capped": False}


def run(db):
    return [migrate(db[m.collection], m) for m in spec.MIGRATIONS]
