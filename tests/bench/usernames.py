"""Username derivation as the TWIGZ seed defined it, for the baselines written in Python: the
tests' reference implementation (tests/e2e/reference.py), so the benchmark's baselines and the
end-to-end tests agree on every name by construction."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import reference  # noqa: E402

base = reference.js_base


def plan(customers_in_id_order):
    """[(_id, username)] for every customer whose username is falsy, in _id order."""
    return [(doc["_id"], name) for doc, name in reference.assign_usernames(customers_in_id_order)]
