// Command twigz-ferretdb runs FerretDB v1.24.2 embedded, for local runs and tests.
//
// The published FerretDB module cannot be `go install`ed as is (its cmd panics without the generated
// version.txt), so this main imports the embeddable package instead. Once the listener is up it prints
// one line, "ready <mongodb-uri>", on stdout: scripts wait for that line and read the bound address
// from it (useful with port 0). It stops cleanly on SIGTERM or SIGINT.
//
// With the SQLite backend it also keeps every collection's `_id` lookups indexed (idindex.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on (port 0 picks a free port)")
	dataDir := flag.String("data-dir", "ferretdb-data", "directory for the SQLite backend's files")
	postgres := flag.String("postgresql-url", "", "use the PostgreSQL backend at this URL instead of SQLite")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fatal("bad --log-level: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	cfg := ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listen},
		Logger:   logger,
	}
	if *postgres != "" {
		cfg.Handler = "postgresql"
		cfg.PostgreSQLURL = *postgres
	} else {
		dir, err := filepath.Abs(*dataDir)
		if err != nil {
			fatal("bad --data-dir: %v", err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			fatal("cannot create --data-dir: %v", err)
		}
		cfg.Handler = "sqlite"
		cfg.SQLiteURL = "file:" + dir + "/"
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	var idx *idIndexer
	if cfg.Handler == "sqlite" {
		// Existing collections are indexed before FerretDB opens its files: nothing waits on the
		// build, however large the tables.
		idx = newIDIndexer(cfg.SQLiteURL[len("file:"):], logger)
		idx.pass(ctx)
	}

	f, err := ferretdb.New(&cfg)
	if err != nil {
		fatal("%v", err)
	}
	if idx != nil {
		go idx.watch(ctx, 200*time.Millisecond) // closes its files when ctx ends
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := f.Run(ctx); err != nil {
			logger.Error("ferretdb stopped", "error", err)
		}
	}()

	// MongoDBURI blocks until Run has bound the listener, so the address it gives accepts connections.
	uri := f.MongoDBURI()
	fmt.Printf("ready %s\n", uri)
	os.Stdout.Sync()

	<-done
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "twigz-ferretdb: "+format+"\n", args...)
	os.Exit(1)
}
