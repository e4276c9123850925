// Package docdb runs the MongoDB-wire engine of local runs and tests:
// FerretDB embedded in-process on a private PostgreSQL cluster, with GIN
// expression indexes that make FerretDB's pushed-down equality filters index
// scans (docs/CONTRACT.md, "the database engine"). infra/stack and testkit
// both start it through Start; services only ever see a mongodb:// URI.
package docdb

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Config says where the engine keeps its data and how careful it is.
type Config struct {
	// Dir holds the PostgreSQL cluster; it is created (initdb) when empty.
	Dir string
	// Durable keeps fsync on, for data that outlives the run; tests turn it
	// off.
	Durable bool
	// Logger receives FerretDB's log; nil discards it.
	Logger *slog.Logger
	// PostgresLog receives the server's own output; nil discards it.
	PostgresLog io.Writer
	// PostgresSettings are extra `name=value` server settings.
	PostgresSettings []string
	// IndexEvery is how often new collections and indexes get their GIN
	// indexes (default 200ms).
	IndexEvery time.Duration
	// PoolSize caps FerretDB's connections to PostgreSQL (default 40).
	PoolSize int
	// External: FerretDB runs in processes of its own (Serve, one per
	// service as in Kubernetes); Start only starts PostgreSQL and the index
	// keeper. FerretDB serialises work on process-wide locks (it tracks
	// every document iterator in a runtime/pprof profile), so one FerretDB
	// per service scales where one shared FerretDB queues.
	External bool
}

// Engine is a running FerretDB on its PostgreSQL.
type Engine struct {
	pg      *postgres
	pgURL   string
	uri     string
	indexer *ginIndexer
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// Start brings up PostgreSQL, then FerretDB on a free loopback port, then
// the index keeper. Stop undoes all three.
func Start(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PostgresLog == nil {
		cfg.PostgresLog = io.Discard
	}
	if cfg.IndexEvery == 0 {
		cfg.IndexEvery = 200 * time.Millisecond
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = 40
	}
	pg, err := startPostgres(ctx, cfg.Dir, cfg.Durable, cfg.PostgresSettings, cfg.PostgresLog)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e := &Engine{pg: pg, pgURL: pg.url(fmt.Sprintf("&pool_max_conns=%d", cfg.PoolSize)),
		indexer: newGINIndexer(pg.connString(pgDatabase)), cancel: cancel}
	if !cfg.External {
		f, err := newFerret(e.pgURL, "127.0.0.1:0", cfg.Logger)
		if err != nil {
			cancel()
			pg.stop()
			return nil, err
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			_ = f.Run(runCtx)
		}()
		e.uri = f.MongoDBURI()
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.keepIndexes(runCtx, cfg.IndexEvery, cfg.Logger)
	}()
	return e, nil
}

// URI is the mongodb:// URI of the in-process FerretDB, without a
// database; empty when Config.External.
func (e *Engine) URI() string { return e.uri }

// PostgreSQLURL is what a FerretDB of its own process connects to (Serve).
func (e *Engine) PostgreSQLURL() string { return e.pgURL }

func newFerret(pgURL, listen string, log *slog.Logger) (*ferretdb.FerretDB, error) {
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: listen},
		Handler:       "postgresql",
		PostgreSQLURL: pgURL,
		Logger:        quietClientErrors(log),
	})
	if err != nil {
		return nil, fmt.Errorf("starting FerretDB: %w", err)
	}
	return f, nil
}

// Serve runs a FerretDB on listen (host:port) over the engine's PostgreSQL
// at pgURL (Engine.PostgreSQLURL) until ctx is done: the body of a FerretDB
// process of its own.
func Serve(ctx context.Context, pgURL, listen string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f, err := newFerret(pgURL, listen, log)
	if err != nil {
		return err
	}
	return f.Run(ctx)
}

// PostgresConnString is a pgx/libpq connection string for FerretDB's
// PostgreSQL database, for tests that look under the hood.
func (e *Engine) PostgresConnString() string { return e.pg.connString(pgDatabase) }

// SyncIndexes creates the missing GIN indexes now, instead of at the next
// tick; for tests and for callers that just created their collections.
func (e *Engine) SyncIndexes(ctx context.Context) error { return e.indexer.Sync(ctx) }

func (e *Engine) keepIndexes(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := e.indexer.Sync(ctx); err != nil && ctx.Err() == nil {
			log.Warn("GIN index sync failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Stop stops FerretDB, then PostgreSQL (see postgres.stop). Safe to call twice.
func (e *Engine) Stop() {
	e.once.Do(func() {
		e.cancel()
		e.wg.Wait()
		e.indexer.close()
		e.pg.stop()
	})
}
