"""Seed data for end-to-end migration tests: realistic, odd and adversarial documents, inserted in an
order different from _id order, from a fixed random seed."""
import random

from bson import ObjectId, Int64, Decimal128

NAMES = ["John", "john", "JOHN DOE", "Jöhn", "Mary-Jane", "Christopher Robinson", "李小龙", "Владимир",
         "İlker", "\u212aelvin", "O'Brien", "  ", "", "Ana María", "Zoë", "john1", "x" * 300, "😀 Smile"]


def stores(n, rng=None):
    rng = rng or random.Random(7)
    docs = []
    for i in range(n):
        d = {"_id": ObjectId(), "name": f"Store {i}", "ownerId": i, "tags": ["a", "b"][: i % 3],
             "createdAt": 1700000000000 + i}
        r = i % 8
        if r == 1:
            d["status"] = "active"
        elif r == 2:
            d["status"] = None          # exists: kept
        elif r == 3:
            d["phoneNumberVerified"] = True
        elif r == 4:
            d["status"] = "closed"
            d["phoneNumberVerified"] = False
        elif r == 5:
            d["phoneNumberVerified"] = None
        docs.append(d)
    rng.shuffle(docs)
    return docs


def customers(n, rng=None, with_gaps=True):
    rng = rng or random.Random(11)
    docs = []
    for i in range(n):
        d = {"_id": ObjectId(), "email": f"c{i}@example.com", "n": i}
        r = i % 10
        if r < 6:
            d["name"] = rng.choice(NAMES)
        elif r == 6:
            d["name"] = rng.choice([12345, ["a", "b"], None, {"first": "x"}, True, Int64(7)])
        elif r == 7:
            pass  # no name at all
        else:
            d["name"] = f"Person {rng.randrange(50)}"
        u = i % 13
        if u == 1:
            d["username"] = ""
        elif u == 2:
            d["username"] = None
        elif u == 3:
            d["username"] = False
        elif u == 4:
            d["username"] = 0
        elif u == 5:
            d["username"] = f"kept{i}"
        if i % 5 == 0:
            d["isPrivate"] = False       # exists: kept
        elif i % 7 == 0:
            d["isPrivate"] = None        # exists: kept
        docs.append(d)
    if with_gaps:
        for taken in ("john", "john2", "john5"):
            docs.append({"_id": ObjectId(), "name": "John", "username": taken})
    rng.shuffle(docs)
    return docs


def load(db, store_docs, customer_docs):
    db.stores.drop()
    db.customers.drop()
    if store_docs:
        db.stores.insert_many(store_docs, ordered=False)
    if customer_docs:
        db.customers.insert_many(customer_docs, ordered=False)
