"""The four TWIGZ migrations as every baseline implements them: the same fields, the same
"missing" rules and the same order as service/migrations/registry.c."""

USERNAME = "addUsernamesToCustomers"


def absent(field):
    # FerretDB cannot store BSON undefined and refuses $type: "undefined", so no approach asks for it.
    return {field: {"$exists": False}}


def falsy(field):
    return {"$or": [{field: {"$exists": False}}, {field: None}, {field: ""}, {field: False},
                    {field: 0}]}


class Migration:
    def __init__(self, name, collection, defaults, derived=False):
        self.name = name
        self.collection = collection
        self.defaults = defaults  # [(field, constant)] in the order they are set
        self.derived = derived

    def field_filters(self):
        if self.derived:
            return [falsy("username")]
        return [absent(f) for f, _ in self.defaults]

    def filter(self):
        """Documents missing any of the migration's fields."""
        parts = self.field_filters()
        return parts[0] if len(parts) == 1 else {"$or": parts}

    def missing_defaults(self, doc):
        """The constant fields doc lacks, as a $set document."""
        return {f: v for f, v in self.defaults if f not in doc}


MIGRATIONS = [
    Migration("addStatusToStores", "stores", [("status", "pending")]),
    Migration("ensureStoreFields", "stores", [("status", "pending"), ("phoneNumberVerified", False)]),
    Migration(USERNAME, "customers", [], derived=True),
    Migration("addPrivacyToCustomers", "customers", [("isPrivate", True)]),
]
NAMES = [m.name for m in MIGRATIONS]
