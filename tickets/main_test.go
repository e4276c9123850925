package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
	"ticketing.dev/common/service/backend"
	"ticketing.dev/common/testkit"
)

var kit = testkit.New()

func TestMain(m *testing.M) { os.Exit(kit.Run(m)) }

const jwtKey = "test-jwt-key"

// ackWait is STAN's minimum, so redelivery tests stay short.
const ackWait = time.Second

// env is the service wired as run wires it, on a fresh database and bus.
type env struct {
	URL   string
	db    testkit.DB
	stan  *testkit.Broker
	bus   events.Bus // the test's own connection, to publish and capture
	store *store
	// metrics is what the listeners of the process at URL report on (its
	// events_handled_total).
	metrics *testkit.Metrics
}

func newEnv(t *testing.T) env {
	t.Helper()
	e := env{db: kit.Mongo(t), stan: testkit.NewSTAN(t), metrics: testkit.NewMetrics()}
	e.bus = e.stan.Connect(t)
	e.URL, e.store = e.start(t, func(ctx context.Context, db *mongo.Database, conn events.Bus) (http.Handler, func(), error) {
		return backend.Wire(ctx, db, conn, testLog(), testConfig(), e.metrics.Registerer(), build)
	})
	return e
}

// waitHandled waits until the listeners of the process at URL have ended
// n deliveries of subject (or more) with outcome.
func (e env) waitHandled(t *testing.T, subject events.Subject, outcome events.Outcome, n int) {
	t.Helper()
	e.metrics.WaitHandled(t, subject, outcome, n, 10*time.Second)
}

func testLog() *slog.Logger { return service.NewLogger(io.Discard, "tickets", "info") }

func testConfig() config {
	return config{Config: backend.Config{JWTKey: jwtKey, CookieSecure: true, NATS: service.NATS{AckWait: ackWait}}}
}

// process starts one more process of the service on the env's database
// and bus (testkit.StartService) and returns its URL and a store on its
// database whose relay never runs, as if that process had just died.
func (e env) process(t *testing.T) (string, *store) {
	t.Helper()
	return e.start(t, func(ctx context.Context, db *mongo.Database, conn events.Bus) (http.Handler, func(), error) {
		return backend.Wire(ctx, db, conn, testLog(), testConfig(), nil, build)
	})
}

// start is process, wired by wire.
func (e env) start(t *testing.T, wire testkit.Wire) (string, *store) {
	t.Helper()
	url, db := testkit.StartService(t, e.db, e.stan, wire)
	st, err := newStore(context.Background(), db, outbox.NewLog(db, nil, testLog()))
	require.NoError(t, err)
	return url, st
}

// user is a signed-in user's cookie.
func user(t *testing.T, id string) *http.Cookie {
	return testkit.SessionCookie(t, jwtKey, id, id+"@test.com")
}

// do sends a request to the service under test (see testkit.Do).
func do(t *testing.T, method, url, body string, cookies ...*http.Cookie) response {
	t.Helper()
	return testkit.Do(t, method, url, body, cookies...)
}

type response = testkit.Response

// create lists a ticket as the user and returns its JSON.
func create(t *testing.T, e env, owner *http.Cookie, title string, price float64) map[string]any {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"title": title, "price": price})
	r := do(t, "POST", e.URL+"/api/tickets", string(b), owner)
	require.Equal(t, 201, r.Status, r.Raw)
	return r.Body
}
