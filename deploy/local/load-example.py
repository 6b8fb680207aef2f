#!/usr/bin/env python3
"""Loads example TWIGZ data, written as before the migrations existed, so that a first Run has work
to do: stores without status or phoneNumberVerified, customers without username or isPrivate, a few
already done, names that collide once lowercased.

    deploy/local/load-example.py [MONGODB_URI] [DATABASE] [--stores N] [--customers N]

The defaults are the embedded default's (run.sh prints its URI) and the service's database, twigz.
Existing stores and customers collections are replaced; the migration state is left alone.
"""
import argparse
import random
import sys

try:
    from bson import ObjectId
    from pymongo import MongoClient
except ImportError:
    sys.exit("load-example: needs pymongo (deploy/local/setup.sh installs it)")

FIRST = ["John", "Ann", "Zoë", "Mary Jane", "Li Wei", "Olu", "Sam", "Ana María", "Владимир", "O'Brien"]
LAST = ["Doe", "Smith", "Okafor", "García", "Nguyen", ""]


def stores(n, rng):
    docs = []
    for i in range(n):
        d = {"_id": ObjectId(), "name": f"Store {i}", "ownerId": rng.randrange(1000)}
        if i % 10 == 0:
            d["status"] = "active"  # written after the schema change: left as is
        if i % 7 == 0:
            d["phoneNumberVerified"] = True
        docs.append(d)
    return docs


def customers(n, rng):
    docs = []
    for i in range(n):
        d = {"_id": ObjectId(), "email": f"customer{i}@example.com",
             "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}".strip()}
        if i % 9 == 0:
            d["username"] = f"early{i}"
        if i % 4 == 0:
            d["isPrivate"] = False
        docs.append(d)
    return docs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("uri", nargs="?", default="mongodb://127.0.0.1:27017/")
    ap.add_argument("database", nargs="?", default="twigz")
    ap.add_argument("--stores", type=int, default=2000)
    ap.add_argument("--customers", type=int, default=3000)
    args = ap.parse_args()
    rng = random.Random(2026)
    client = MongoClient(args.uri, serverSelectionTimeoutMS=5000)
    db = client[args.database]
    for name, docs in (("stores", stores(args.stores, rng)), ("customers", customers(args.customers, rng))):
        db[name].drop()
        for at in range(0, len(docs), 1000):
            db[name].insert_many(docs[at:at + 1000], ordered=False)
    print(f"load-example: {args.stores} stores and {args.customers} customers in {args.database}")


if __name__ == "__main__":
    main()
