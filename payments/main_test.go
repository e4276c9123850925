package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
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
)

// chargeRequest is what reached Stripe.
type chargeRequest struct {
	Form           url.Values
	IdempotencyKey string
}

// stripeRecorder sits in front of stripe-mock, which is stateless and keeps
// no record of charges (DESIGN §6): it records every charge request, and
// can answer in Stripe's place to play a decline or an outage.
type stripeRecorder struct {
	URL string

	mu       sync.Mutex
	requests []chargeRequest
	answer   func(w http.ResponseWriter) bool // true: answered instead of Stripe
}

func newStripeRecorder(t *testing.T) *stripeRecorder {
	t.Helper()
	target, err := url.Parse(kit.StripeMock(t))
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	rec := &stripeRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		rec.mu.Lock()
		if r.URL.Path == "/v1/charges" {
			rec.requests = append(rec.requests, chargeRequest{Form: form, IdempotencyKey: r.Header.Get("Idempotency-Key")})
		}
		answer := rec.answer
		rec.mu.Unlock()
		if answer != nil && answer(w) {
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rec.URL = srv.URL
	return rec
}

func (s *stripeRecorder) charges() []chargeRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]chargeRequest(nil), s.requests...)
}

func (s *stripeRecorder) answerWith(f func(w http.ResponseWriter) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer = f
}

type env struct {
	URL    string
	bus    stan.Conn
	store  *store
	stripe *stripeRecorder
}

func newEnv(t *testing.T) env {
	t.Helper()
	return newEnvWithStripe(t, newStripeRecorder(t))
}

func newEnvWithStripe(t *testing.T, rec *stripeRecorder) env {
	t.Helper()
	db := kit.Mongo(t)
	s := testkit.NewSTAN(t)
	conn := s.Connect(t)
	log := service.NewLogger(io.Discard, "payments", "info")
	st := newStore(db.Database)
	require.NoError(t, st.ensureIndexes(context.Background()))
	relay := outbox.NewRelay(st.payments, conn, &outbox.Locks{}, log)
	l := &listeners{store: st, log: log}
	_, err := l.subscribe(context.Background(), conn, ackWait)
	require.NoError(t, err)
	a := &api{store: st, charges: newStripeCharges("sk_test_123", rec.URL), relay: relay,
		sessions: session.NewManager(jwtKey, true), validate: validate.New()}
	srv := httptest.NewServer(routes(a, log, service.MongoCheck(db.Database)))
	t.Cleanup(srv.Close)
	return env{URL: srv.URL, bus: s.Connect(t), store: st, stripe: rec}
}

func user(t *testing.T, id string) *http.Cookie {
	return testkit.SessionCookie(t, jwtKey, id, id+"@test.com")
}

// seedOrder puts an order in the replica and returns its id.
func seedOrder(t *testing.T, e env, userID string, price float64, status events.OrderStatus) string {
	t.Helper()
	id := primitive.NewObjectID()
	require.NoError(t, e.store.CreateOrder(context.Background(), order{ID: id, UserID: userID, Status: status, Price: price}))
	return id.Hex()
}

func pay(t *testing.T, e env, orderID, token string, cookies ...*http.Cookie) response {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"orderId": orderID, "token": token})
	return do(t, "POST", e.URL+"/api/payments", string(b), cookies...)
}

// do sends a request to the service under test (see testkit.Do).
func do(t *testing.T, method, url, body string, cookies ...*http.Cookie) response {
	t.Helper()
	return testkit.Do(t, method, url, body, cookies...)
}

type response = testkit.Response
