package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/nats-io/stan.go"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/validate"
)

var kit = testkit.New()

func TestMain(m *testing.M) { os.Exit(kit.Run(m)) }

const (
	jwtKey  = "test-jwt-key"
	ackWait = time.Second
	window  = 15 * time.Minute
)

type env struct {
	URL   string
	bus   stan.Conn
	store *store
}

func newEnv(t *testing.T) env {
	t.Helper()
	db := kit.Mongo(t)
	s := testkit.NewSTAN(t)
	conn := s.Connect(t)
	log := service.NewLogger(io.Discard, "orders", "info")
	locks := &outbox.Locks{}
	st := newStore(db.Database, locks)
	require.NoError(t, st.ensureIndexes(context.Background()))
	relay := outbox.NewRelay(st.orders, conn, locks, log)
	l := &listeners{store: st, relay: relay, log: log}
	_, err := l.subscribe(context.Background(), conn, ackWait)
	require.NoError(t, err)
	a := &api{store: st, relay: relay, sessions: session.NewManager(jwtKey, true), validate: validate.New(), window: window}
	srv := httptest.NewServer(routes(a, log, service.MongoCheck(db.Database)))
	t.Cleanup(srv.Close)
	return env{URL: srv.URL, bus: s.Connect(t), store: st}
}

func user(t *testing.T, id string) *http.Cookie {
	return testkit.SessionCookie(t, jwtKey, id, id+"@test.com")
}

// seedTicket puts a ticket in the replica and returns its id.
func seedTicket(t *testing.T, e env, title string, price float64) string {
	t.Helper()
	id := primitive.NewObjectID()
	_, err := e.store.ApplyTicket(context.Background(), ticket{ID: id, Title: title, Price: price})
	require.NoError(t, err)
	return id.Hex()
}

// do sends a request to the service under test (see testkit.Do).
func do(t *testing.T, method, url, body string, cookies ...*http.Cookie) response {
	t.Helper()
	return testkit.Do(t, method, url, body, cookies...)
}

type response = testkit.Response

// order places an order for the ticket as the user, expecting 201.
func placeOrder(t *testing.T, e env, buyer *http.Cookie, ticketID string) map[string]any {
	t.Helper()
	r := do(t, "POST", e.URL+"/api/orders", `{"ticketId":"`+ticketID+`"}`, buyer)
	require.Equal(t, 201, r.Status, r.Raw)
	return r.Body
}

func eventTicketCreated(id string) events.TicketCreated {
	return events.TicketCreated{ID: id, Version: 0, Title: "concert", Price: 20, UserID: "seller"}
}
