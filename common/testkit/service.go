package testkit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/events"
	"ticketing.dev/common/service"
)

// Wire builds a service on its database and bus, as its run does: the
// routes, and a stop that ends what it started in the background.
type Wire func(ctx context.Context, db *mongo.Database, conn events.Bus) (http.Handler, func(), error)

// StartService starts one process of a service on db and the bus s: its
// own database client and bus connection, sharing nothing in memory with
// any other process started so, as separate OS processes would. It returns
// the service's base URL and its database handle; everything stops when t
// ends.
func StartService(t testing.TB, db DB, s *Broker, wire Wire) (string, *mongo.Database) {
	t.Helper()
	mdb, err := service.ConnectMongo(db.URI, "")
	if err != nil {
		t.Fatal(err)
	}
	conn := s.Connect(t)
	ctx, cancel := context.WithCancel(context.Background())
	h, stop, err := wire(ctx, mdb, conn)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		stop()
		_ = mdb.Client().Disconnect(context.Background())
	})
	return srv.URL, mdb
}
