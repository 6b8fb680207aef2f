package main

// FerretDB 1.24's SQLite backend looks documents up by `_id` (a find, update or delete whose filter
// is one string or ObjectId `_id`, and deletes by a list of them) with
//
//	WHERE _ferretdb_sjson->'$._id' = ?
//
// but builds each collection's `_id_` index on `_ferretdb_sjson->"_id"`. SQLite uses an expression
// index only for the very expression it was built on, so every such lookup scans the whole table and
// a backfill that writes document by document turns quadratic. An index created through the wire
// protocol is built on the same `->"field"` form and does not help either.
//
// So the launcher adds, to every collection table, the index that the lookups can use:
//
//	CREATE INDEX "<table>__twigz_id" ON "<table>" (_ferretdb_sjson->'$._id')
//
// It is invisible to clients (FerretDB lists indexes from its own metadata, not from sqlite_master),
// is dropped with its table, and is never unique: `_id_` still enforces uniqueness.
//
// Why this is safe while FerretDB runs: SQLite serialises writers on the file's lock, and FerretDB
// opens its files with busy_timeout(10000), so its writes wait for an index build instead of failing.
// What keeps that wait short is when the builds happen: the tables that exist at start are indexed
// before FerretDB opens its files (however large they are, nothing waits), and a table created
// later is found within one poll interval of its creation, while it holds at most the documents
// written in that interval. Readers are never blocked (WAL journal).

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the driver FerretDB itself links
)

const idIndexSuffix = "__twigz_id"

type idIndexer struct {
	dir    string
	logger *slog.Logger
	dbs    map[string]*sql.DB // by file name; each kept open between passes
}

func newIDIndexer(dir string, logger *slog.Logger) *idIndexer {
	return &idIndexer{dir: dir, logger: logger, dbs: map[string]*sql.DB{}}
}

// watch runs a pass every interval until ctx ends, then closes the files.
func (x *idIndexer) watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	defer x.close()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			x.pass(ctx)
		}
	}
}

func (x *idIndexer) close() {
	for name, db := range x.dbs {
		db.Close()
		delete(x.dbs, name)
	}
}

// pass indexes every collection table, in every database file, that lacks the index. Errors are
// logged and retried on the next pass: a database being dropped, or a file still being created.
func (x *idIndexer) pass(ctx context.Context) {
	files, err := filepath.Glob(filepath.Join(x.dir, "*.sqlite"))
	if err != nil {
		x.logger.Warn("listing database files", "dir", x.dir, "error", err)
		return
	}
	present := map[string]bool{}
	for _, path := range files {
		name := filepath.Base(path)
		present[name] = true
		db, err := x.open(name, path)
		if err != nil {
			x.logger.Warn("opening database file", "file", name, "error", err)
			continue
		}
		if err := x.indexFile(ctx, name, db); err != nil && ctx.Err() == nil {
			x.logger.Warn("indexing _id lookups", "file", name, "error", err)
		}
	}
	for name, db := range x.dbs { // files of dropped databases: let go of them
		if !present[name] {
			db.Close()
			delete(x.dbs, name)
		}
	}
}

func (x *idIndexer) open(name, path string) (*sql.DB, error) {
	if db := x.dbs[name]; db != nil {
		return db, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	// mode=rw: never create a file FerretDB has just removed.
	db, err := sql.Open("sqlite", "file:"+path+"?mode=rw&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	x.dbs[name] = db
	return db, nil
}

func (x *idIndexer) indexFile(ctx context.Context, file string, db *sql.DB) error {
	// FerretDB creates _ferretdb_collections with the file: a file without it is not ready yet.
	rows, err := db.QueryContext(ctx, `SELECT c.table_name FROM _ferretdb_collections c
		WHERE NOT EXISTS (SELECT 1 FROM sqlite_master m WHERE m.type = 'index' AND m.name = c.table_name || ?)`,
		idIndexSuffix)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil
		}
		return err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range tables {
		start := time.Now()
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, t+idIndexSuffix, t)
		if _, err := db.ExecContext(ctx, q); err != nil {
			if strings.Contains(err.Error(), "no such table") { // dropped meanwhile
				continue
			}
			return fmt.Errorf("table %s: %w", t, err)
		}
		x.logger.Info("indexed _id lookups", "file", file, "table", t, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}
