"""The embedded default (deploy/local/ferretdb): every collection's `_id` lookups are indexed.

FerretDB v1.24's SQLite backend looks documents up by `_ferretdb_sjson->'$._id'` while its own `_id_`
index is on another expression; the launcher adds an index on the lookup expression to every
collection table, existing or new. These tests read the SQLite files the launcher serves and ask
SQLite's planner whether a lookup by `_id` uses an index."""
import os
import sqlite3

from bson import ObjectId

from harness import FerretDB, wait_until

LOOKUP = "SELECT 1 FROM \"{table}\" WHERE _ferretdb_sjson->'$._id' = ?"


def tables(ferret, database):
    """{collection: table} from FerretDB's own catalogue in the database's file."""
    con = sqlite3.connect(f"file:{ferret.dir}/data/{database}.sqlite?mode=ro", uri=True, timeout=30)
    try:
        return dict(con.execute("SELECT name, table_name FROM _ferretdb_collections"))
    finally:
        con.close()


def plan(ferret, database, collection):
    """SQLite's plan for one lookup by _id in collection, as one string."""
    table = tables(ferret, database)[collection]
    con = sqlite3.connect(f"file:{ferret.dir}/data/{database}.sqlite?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute("EXPLAIN QUERY PLAN " + LOOKUP.format(table=table), ('"x"',)).fetchall()
        return " | ".join(r[-1] for r in rows)
    finally:
        con.close()


def indexed(ferret, database, collection):
    try:
        return "USING INDEX" in plan(ferret, database, collection)
    except (KeyError, sqlite3.OperationalError):  # the collection's file or row is not there yet
        return False


def test_a_collection_created_while_it_runs_gets_its_id_lookups_indexed(tmp_path):
    ferret = FerretDB(str(tmp_path)).start()
    try:
        db = ferret.client()["launcher_new"]
        ids = [ObjectId() for _ in range(500)]
        db.docs.insert_many([{"_id": i, "n": k} for k, i in enumerate(ids)])
        wait_until(lambda: indexed(ferret, "launcher_new", "docs"), 30, what="docs' _id lookups indexed")
        assert "SCAN" not in plan(ferret, "launcher_new", "docs")
        # Clients see nothing of it: listIndexes is FerretDB's own, and lookups still find documents.
        assert [ix["name"] for ix in db.docs.list_indexes()] == ["_id_"]
        r = db.docs.update_one({"_id": ids[250]}, {"$set": {"seen": True}})
        assert r.matched_count == 1 and r.modified_count == 1
        assert db.docs.find_one({"_id": ids[250]})["seen"] is True
        # Dropped with its collection, and added again to the collection created in its place.
        db.docs.drop()
        db.docs.insert_one({"_id": "a", "n": 0})
        wait_until(lambda: indexed(ferret, "launcher_new", "docs"), 30, what="the new docs' _id lookups indexed")
    finally:
        ferret.stop()


def test_collections_that_exist_at_start_are_indexed_before_it_is_ready(tmp_path):
    ferret = FerretDB(str(tmp_path)).start()
    ferret.client()["launcher_old"].docs.insert_many([{"_id": ObjectId()} for _ in range(1000)])
    wait_until(lambda: indexed(ferret, "launcher_old", "docs"), 30, what="docs' _id lookups indexed")
    ferret.stop()
    # A file from a stock FerretDB: its table has no such index.
    table = tables(ferret, "launcher_old")["docs"]
    con = sqlite3.connect(os.path.join(ferret.dir, "data", "launcher_old.sqlite"))
    con.execute(f'DROP INDEX "{table}__twigz_id"')
    con.commit()
    con.close()
    assert not indexed(ferret, "launcher_old", "docs")
    ferret.start()  # returns once the launcher printed "ready"
    try:
        assert indexed(ferret, "launcher_old", "docs"), plan(ferret, "launcher_old", "docs")
        assert ferret.client()["launcher_old"].docs.count_documents({}) == 1000
    finally:
        ferret.stop()
