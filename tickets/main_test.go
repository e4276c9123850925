package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/nats-io/stan.go"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/validate"
)

var kit = testkit.New()

func TestMain(m *testing.M) { os.Exit(kit.Run(m)) }

const jwtKey = "test-jwt-key"

// ackWait is STAN's minimum, so redelivery tests stay short.
const ackWait = time.Second

// env is the service wired as run wires it, on a fresh database and bus.
type env struct {
	URL     string
	bus     stan.Conn // the test's own connection, to publish and capture
	tickets *ticketStore
	relay   *outbox.Relay
}

func newEnv(t *testing.T) env {
	t.Helper()
	db := kit.Mongo(t)
	s := testkit.NewSTAN(t)
	conn := s.Connect(t)
	log := service.NewLogger(io.Discard, "tickets", "info")
	locks := &outbox.Locks{}
	tickets := newTicketStore(db.Database, locks)
	relay := outbox.NewRelay(tickets.c, conn, locks, log)
	l := &listeners{tickets: tickets, relay: relay}
	_, err := l.subscribe(context.Background(), conn, ackWait, log)
	require.NoError(t, err)
	a := &api{tickets: tickets, relay: relay, sessions: session.NewManager(jwtKey, true), validate: validate.New()}
	srv := httptest.NewServer(routes(a, log, service.MongoCheck(db.Database)))
	t.Cleanup(srv.Close)
	return env{URL: srv.URL, bus: s.Connect(t), tickets: tickets, relay: relay}
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

// outboxRelay is a relay for the env's tickets on another connection.
func outboxRelay(e env, conn stan.Conn) *outbox.Relay {
	return outbox.NewRelay(e.tickets.c, conn, e.tickets.locks, service.NewLogger(io.Discard, "tickets", "info"))
}
