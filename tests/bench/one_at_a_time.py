"""The seed's shape: find ONE document still missing the field, update it, repeat.

This is how the TWIGZ seed migrated (a migrateOne per document, driven by a loop). For usernames it
probes base, base1, base2, ... with one query each, as the seed did, and takes the first free one.
Constant backfills take whichever missing document the server returns first; usernames take them
in _id order (the seed's creation order), which decides who gets john and who john7.

  one_at_a_time.py --uri URI --database DB [--cap SECONDS]

prints one JSON line per migration: {"migration", "docs", "seconds", "capped"}. --cap stops a
migration that runs longer (this shape is quadratic); its rate is then over the documents done.
"""
import argparse
import json
import sys
import time

import pymongo

import spec
from usernames import base


def migrate(coll, m, cap):
    docs, capped = 0, False
    t0 = time.monotonic()
    sort = [("_id", 1)] if m.derived else None
    while True:
        if cap and time.monotonic() - t0 > cap:
            capped = True
            break
        doc = coll.find_one(m.filter(), sort=sort)
        if doc is None:
            break
        if m.derived:
            b = base(doc.get("name"))
            candidate, k = b, 0
            while coll.find_one({"username": candidate}, {"_id": 1}) is not None:
                k += 1
                candidate = f"{b}{k}"
            coll.update_one({"_id": doc["_id"]}, {"$set": {"username": candidate}})
        else:
            coll.update_one({"_id": doc["_id"]}, {"$set": m.missing_defaults(doc)})
        docs += 1
    if m.derived and not capped:
        coll.create_index("username", unique=True, name="by_username")
    return {"migration": m.name, "docs": docs, "seconds": time.monotonic() - t0, "capped": capped}


def main(argv=None):
    ap = argparse.ArgumentParser(description="the one-at-a-time baseline")
    ap.add_argument("--uri", required=True)
    ap.add_argument("--database", required=True)
    ap.add_argument("--cap", type=float, default=0, help="seconds per migration; 0: no cap")
    args = ap.parse_args(argv)
    with pymongo.MongoClient(args.uri) as client:
        db = client[args.database]
        for m in spec.MIGRATIONS:
            print(json.dumps(migrate(db[m.collection], m, args.cap)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
