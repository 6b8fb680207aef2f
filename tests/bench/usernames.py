"""Username derivation as the TWIGZ seed defined it, for the baselines written in Python:
base = name.toLowerCase().replace(/[^a-z0-9]/g, "").slice(0, 12), "user" when that is empty or the
name is not a string; the first of base, base1, base2, ... no customer holds yet, in _id order."""
import math
import re

from bson import Decimal128

_NOT_KEPT = re.compile(r"[^a-z0-9]")


def base(name):
    # str.lower agrees with JavaScript's toLowerCase on every character gen.py writes whose
    # lowercase is ASCII (U+0130 and U+212A included).
    if not isinstance(name, str):
        return "user"
    return _NOT_KEPT.sub("", name.lower())[:12] or "user"


def is_falsy(doc, field):
    """JavaScript's !doc[field] for the values BSON holds."""
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


def plan(customers_in_id_order):
    """[(_id, username)] for every customer whose username is falsy, as a one-at-a-time assigner
    would give them; `taken` starts with every username already held."""
    taken = {d["username"] for d in customers_in_id_order
             if isinstance(d.get("username"), str) and d["username"]}
    next_k = {}
    out = []
    for d in customers_in_id_order:
        if not is_falsy(d, "username"):
            continue
        b = base(d.get("name"))
        # Every candidate below next_k[b] was taken when it was last looked at, and taken only
        # grows, so starting there gives what probing from b itself would.
        k = next_k.get(b, 0)
        candidate = b if k == 0 else f"{b}{k}"
        while candidate in taken:
            k += 1
            candidate = f"{b}{k}"
        next_k[b] = k
        taken.add(candidate)
        out.append((d["_id"], candidate))
    return out
