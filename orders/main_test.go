package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
	"ticketing.dev/common/service/backend"
	"ticketing.dev/common/testkit"
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
	db    testkit.DB
	stan  *testkit.Broker
	bus   events.Bus // the test's own connection, to publish and capture
	store *store
	// maxOpen is the service's MAX_OPEN_ORDERS (0, no cap, unless a test
	// sets it before starting a process).
	maxOpen int
	// metrics is what the listeners of the process at URL report on.
	metrics *testkit.Metrics
}

func newEnv(t *testing.T) env {
	t.Helper()
	e := env{db: kit.Mongo(t), stan: testkit.NewSTAN(t), metrics: testkit.NewMetrics()}
	e.bus = e.stan.Connect(t)
	e.URL, e.store = e.start(t, e.metrics)
	return e
}

// process starts one more process of the service on the env's database
// and bus (testkit.StartService) and returns its URL and a store on its
// database whose relay never runs.
func (e env) process(t *testing.T) (string, *store) {
	t.Helper()
	return e.start(t, nil)
}

// start is process, measured on m (nil: not measured).
func (e env) start(t *testing.T, m *testkit.Metrics) (string, *store) {
	t.Helper()
	log := service.NewLogger(io.Discard, "orders", "info")
	url, db := testkit.StartService(t, e.db, e.stan, func(ctx context.Context, db *mongo.Database, conn events.Bus) (http.Handler, func(), error) {
		cfg := config{Config: backend.Config{JWTKey: jwtKey, CookieSecure: true, NATS: service.NATS{AckWait: ackWait}}, ExpirationWindow: window, MaxOpenOrders: e.maxOpen}
		return backend.Wire(ctx, db, conn, log, cfg, m.Registerer(), build)
	})
	st, err := newStore(context.Background(), db, outbox.NewLog(db, nil, log))
	require.NoError(t, err)
	return url, st
}

func user(t *testing.T, id string) *http.Cookie {
	return testkit.SessionCookie(t, jwtKey, id, id+"@test.com")
}

// seedTicket puts a ticket in the replica and returns its id.
func seedTicket(t *testing.T, e env, title string, price float64) string {
	t.Helper()
	id := primitive.NewObjectID()
	err := e.store.ApplyTicket(context.Background(), ticket{ID: id, Title: title, Price: price})
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

// waitHandled waits until the listeners of the process at URL have ended
// n deliveries of subject (or more) with outcome.
func (e env) waitHandled(t *testing.T, subject events.Subject, outcome events.Outcome, n int) {
	t.Helper()
	e.metrics.WaitHandled(t, subject, outcome, n, 10*time.Second)
}
