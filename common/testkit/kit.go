// Package testkit starts the real infrastructure the tests run against
// (docs/CONTRACT.md §6): embedded FerretDB (or TEST_MONGO_URI), embedded NATS
// Streaming, redis-server and stripe-mock. It is imported only by tests.
//
// A test binary makes one Kit and runs through it, so the database server is
// started once per binary and everything is torn down when it exits:
//
//	var kit = testkit.New()
//
//	func TestMain(m *testing.M) { os.Exit(kit.Run(m)) }
package testkit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/docdb"
	"ticketing.dev/common/service"
)

// Kit owns the infrastructure shared by one test binary.
type Kit struct {
	mongoOnce sync.Once
	mongoErr  error
	mongoURI  string // server URI, no database
	client    *mongo.Client
	engine    *docdb.Engine // nil with TEST_MONGO_URI
	stops     []func()
	dbSeq     atomic.Int64

	stripeOnce sync.Once
	stripeURL  string
	stripeErr  error
}

// New returns a Kit; nothing starts until a test asks for it.
func New() *Kit { return &Kit{} }

// Run runs the tests and then stops everything the Kit started.
func (k *Kit) Run(m *testing.M) int {
	code := m.Run()
	for i := len(k.stops) - 1; i >= 0; i-- {
		k.stops[i]()
	}
	return code
}

// DB is a fresh database for one test.
type DB struct {
	*mongo.Database
	// URI points at this database, as a service's MONGO_URI would.
	URI string
}

// Mongo returns a new empty database for t, dropped when t ends. The server
// is embedded FerretDB on a private PostgreSQL (package docdb), started on
// first use, unless TEST_MONGO_URI names a real MongoDB.
func (k *Kit) Mongo(t testing.TB) DB {
	t.Helper()
	k.mongoOnce.Do(k.startMongo)
	if k.mongoErr != nil {
		t.Fatalf("starting MongoDB-wire server: %v", k.mongoErr)
	}
	name := fmt.Sprintf("t%d_%s", k.dbSeq.Add(1), dbSafe.ReplaceAllString(t.Name(), "_"))
	if len(name) > 60 {
		name = name[:60]
	}
	db := k.client.Database(name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.Drop(ctx); err != nil {
			t.Logf("dropping test database %s: %v", name, err)
		}
	})
	return DB{Database: db, URI: service.WithDatabase(k.mongoURI, name)}
}

// MongoServerURI is the URI of the shared server, without a database.
func (k *Kit) MongoServerURI(t testing.TB) string {
	t.Helper()
	k.mongoOnce.Do(k.startMongo)
	if k.mongoErr != nil {
		t.Fatalf("starting MongoDB-wire server: %v", k.mongoErr)
	}
	return k.mongoURI
}

var dbSafe = regexp.MustCompile(`[^A-Za-z0-9_]+`)

func (k *Kit) startMongo() {
	uri := os.Getenv("TEST_MONGO_URI")
	if uri == "" {
		var err error
		uri, err = k.startFerret()
		if err != nil {
			k.mongoErr = err
			return
		}
	}
	client, err := mongo.Connect(context.Background(), options.Client().ApplyURI(uri))
	if err != nil {
		k.mongoErr = fmt.Errorf("connecting to %s: %w", uri, err)
		return
	}
	k.client = client
	k.mongoURI = uri
	k.stops = append(k.stops, func() { _ = client.Disconnect(context.Background()) })
}

// startFerret runs the local engine (FerretDB on a private PostgreSQL
// cluster in a temporary folder), once per test binary.
func (k *Kit) startFerret() (string, error) {
	dir, err := os.MkdirTemp("", "testkit-docdb-")
	if err != nil {
		return "", err
	}
	e, err := docdb.Start(context.Background(), docdb.Config{Dir: filepath.Join(dir, "pg")})
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("starting the test database engine: %w", err)
	}
	k.engine = e
	k.stops = append(k.stops, func() {
		e.Stop()
		os.RemoveAll(dir)
	})
	return e.URI(), nil
}

// SyncIndexes gives new collections their GIN indexes now rather than at
// the engine's next tick (a no-op on TEST_MONGO_URI, whose server indexes
// by itself).
func (k *Kit) SyncIndexes(t testing.TB) {
	t.Helper()
	if k.engine == nil {
		return
	}
	if err := k.engine.SyncIndexes(context.Background()); err != nil {
		t.Fatalf("syncing GIN indexes: %v", err)
	}
}

// StripeMock returns the base URL of a stripe-mock shared by the test
// binary (stateless, so sharing it is safe), started on first use.
func (k *Kit) StripeMock(t testing.TB) string {
	t.Helper()
	k.stripeOnce.Do(func() {
		cmd, url, err := stripeMockCommand()
		if err != nil {
			k.stripeErr = err
			return
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			k.stripeErr = fmt.Errorf("starting stripe-mock: %w", err)
			return
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		k.stops = append(k.stops, func() { _ = cmd.Process.Kill(); <-done })
		k.stripeURL = url
		k.stripeErr = waitTCP(strings.TrimPrefix(url, "http://"), 30*time.Second, nil)
	})
	if k.stripeErr != nil {
		t.Fatal(k.stripeErr)
	}
	return k.stripeURL
}
