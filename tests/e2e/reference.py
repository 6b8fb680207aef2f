"""An independent reference implementation of the four migrations, for comparing the service's
results document by document. It processes customers one at a time in _id order, as the seed's
migrateOne loop did; the service must reach exactly the same database."""
import math
import re

from bson import SON, Decimal128, encode
from bson.codec_options import CodecOptions

RAW = CodecOptions(document_class=SON)


def js_base(name):
    """JavaScript's name.toLowerCase().replace(/[^a-z0-9]/g, "").slice(0, 12); "user" if empty or not a string."""
    if not isinstance(name, str):
        return "user"
    lowered = name.lower()  # agrees with JavaScript for every character that lowercases into ASCII
    base = re.sub(r"[^a-z0-9]", "", lowered)[:12]
    return base or "user"


def falsy(doc, field):
    if field not in doc:
        return True
    v = doc[field]
    if v is None or v is False or v == "":
        return True
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return v == 0 or (isinstance(v, float) and math.isnan(v))
    if isinstance(v, Decimal128):
        d = v.to_decimal()
        return d.is_nan() or d == 0
    return False


def assign_usernames(customers_in_id_order):
    """[(customer, username)] for every customer whose username is falsy, one at a time in _id
    order: the first of base, base1, base2, ... that no customer holds and none got before."""
    taken = {d["username"] for d in customers_in_id_order
             if not falsy(d, "username") and isinstance(d["username"], str)}
    next_suffix = {}
    out = []
    for doc in customers_in_id_order:
        if not falsy(doc, "username"):
            continue
        base = js_base(doc.get("name"))
        # Every candidate below next_suffix[base] was taken when last looked at, and taken only
        # grows, so starting there gives what probing from base itself would.
        k = next_suffix.get(base, 0)
        candidate = f"{base}{k}" if k else base
        while candidate in taken:
            k += 1
            candidate = f"{base}{k}"
        next_suffix[base] = k
        taken.add(candidate)
        out.append((doc, candidate))
    return out


def migrate(stores, customers):
    """Returns (expected stores, expected customers), each a list of SON in _id order."""
    out_stores = []
    for doc in sorted(stores, key=lambda d: d["_id"]):
        doc = SON(doc)
        if "status" not in doc:
            doc["status"] = "pending"
        if "phoneNumberVerified" not in doc:
            doc["phoneNumberVerified"] = False
        out_stores.append(doc)

    customers = [SON(d) for d in sorted(customers, key=lambda d: d["_id"])]
    for doc, username in assign_usernames(customers):
        doc["username"] = username
    for doc in customers:
        if "isPrivate" not in doc:
            doc["isPrivate"] = True
    return out_stores, customers


def snapshot(collection):
    """Every document in _id order, normalised through one BSON decode/encode round trip."""
    return [encode(d) for d in collection.with_options(codec_options=RAW).find().sort("_id", 1)]


def normalised(docs):
    return [encode(d) for d in docs]
