// Package testkit starts the real infrastructure the tests run against
// (DESIGN §6): embedded FerretDB (or TEST_MONGO_URI), embedded NATS
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
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/service"
)

// Kit owns the infrastructure shared by one test binary.
type Kit struct {
	mongoOnce sync.Once
	mongoErr  error
	mongoURI  string // server URI, no database
	client    *mongo.Client
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
// is embedded FerretDB (SQLite files in a temporary folder), started on first
// use, unless TEST_MONGO_URI names a real MongoDB.
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

// startFerret runs FerretDB in-process on a free loopback port.
func (k *Kit) startFerret() (string, error) {
	dir, err := os.MkdirTemp("", "testkit-ferretdb-")
	if err != nil {
		return "", err
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("ferretdb: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	k.stops = append(k.stops, func() {
		cancel()
		<-done
		os.RemoveAll(dir)
	})
	return f.MongoDBURI(), nil
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
