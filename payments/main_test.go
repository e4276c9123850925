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
)

// chargeRequest is a charge or refund request that reached Stripe.
type chargeRequest struct {
	Form           url.Values
	IdempotencyKey string
}

// stripeRecorder sits in front of stripe-mock, which is stateless and keeps
// no record of charges (docs/CONTRACT.md §6): it records every charge request, and
// can answer in Stripe's place to play a decline or an outage.
type stripeRecorder struct {
	URL string

	mu       sync.Mutex
	requests []chargeRequest
	refunds_ []chargeRequest
	answer   func(w http.ResponseWriter) bool // true: answered instead of Stripe
	// byPath, when set for a request's path, runs first: it may hold the
	// request, or answer it (true) instead of Stripe.
	byPath map[string]func(w http.ResponseWriter) bool
	// lost: requests to these paths reach Stripe, but payments gets a
	// 502 instead of Stripe's answer (a connection lost mid-request).
	lost map[string]bool
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
		switch r.URL.Path {
		case "/v1/charges":
			rec.requests = append(rec.requests, chargeRequest{Form: form, IdempotencyKey: r.Header.Get("Idempotency-Key")})
		case "/v1/refunds":
			rec.refunds_ = append(rec.refunds_, chargeRequest{Form: form, IdempotencyKey: r.Header.Get("Idempotency-Key")})
		}
		answer, first, lost := rec.answer, rec.byPath[r.URL.Path], rec.lost[r.URL.Path]
		rec.mu.Unlock()
		if lost {
			proxy.ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		if first != nil && first(w) {
			return
		}
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

func (s *stripeRecorder) refunds() []chargeRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]chargeRequest(nil), s.refunds_...)
}

// answerPath sets (f nil: clears) what requests to path meet first.
func (s *stripeRecorder) answerPath(path string, f func(w http.ResponseWriter) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byPath == nil {
		s.byPath = map[string]func(w http.ResponseWriter) bool{}
	}
	s.byPath[path] = f
}

// loseAnswers makes Stripe's answers to path get lost (on) or not.
func (s *stripeRecorder) loseAnswers(path string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lost == nil {
		s.lost = map[string]bool{}
	}
	s.lost[path] = on
}

func (s *stripeRecorder) answerWith(f func(w http.ResponseWriter) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer = f
}

type env struct {
	URL    string
	db     testkit.DB
	stan   *testkit.Broker
	bus    events.Bus // the test's own connection, to publish and capture
	store  *store
	stripe *stripeRecorder
	// confirmWait is how long a payment waits for orders' decision. No
	// orders service runs here: tests play its part by publishing order
	// events, and most let the payment stand after a short wait.
	confirmWait time.Duration
	// metrics is what the listeners of the process at URL report on.
	metrics *testkit.Metrics
}

func newEnv(t *testing.T) env {
	t.Helper()
	return newEnvWith(t, newStripeRecorder(t), 100*time.Millisecond)
}

func newEnvWith(t *testing.T, rec *stripeRecorder, confirmWait time.Duration) env {
	t.Helper()
	e := env{db: kit.Mongo(t), stan: testkit.NewSTAN(t), stripe: rec, confirmWait: confirmWait, metrics: testkit.NewMetrics()}
	e.bus = e.stan.Connect(t)
	e.URL, e.store = e.start(t, e.metrics)
	return e
}

// process starts one more process of the service on the env's database
// and bus (testkit.StartService) and returns its URL and a store on its
// database.
func (e env) process(t *testing.T) (string, *store) {
	t.Helper()
	return e.start(t, nil)
}

// start is process, measured on m (nil: not measured).
func (e env) start(t *testing.T, m *testkit.Metrics) (string, *store) {
	t.Helper()
	log := service.NewLogger(io.Discard, "payments", "info")
	cfg := config{Config: backend.Config{JWTKey: jwtKey, CookieSecure: true, NATS: service.NATS{AckWait: ackWait}},
		StripeKey: "sk_test_123", StripeAPIBase: e.stripe.URL, ConfirmWait: e.confirmWait}
	url, db := testkit.StartService(t, e.db, e.stan, func(ctx context.Context, db *mongo.Database, conn events.Bus) (http.Handler, func(), error) {
		return backend.Wire(ctx, db, conn, log, cfg, m.Registerer(), build)
	})
	st, err := newStore(context.Background(), db, outbox.NewLog(db, nil, log))
	require.NoError(t, err)
	return url, st
}

func user(t *testing.T, id string) *http.Cookie {
	return testkit.SessionCookie(t, jwtKey, id, id+"@test.com")
}

// seedOrder puts an order in the replica and returns its id.
func seedOrder(t *testing.T, e env, userID string, price float64, status events.OrderStatus) string {
	t.Helper()
	id := primitive.NewObjectID()
	require.NoError(t, e.store.ApplyOrder(context.Background(), order{ID: id, UserID: userID, Status: status, Price: price}))
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

// waitHandled waits until the listeners of the process at URL have ended
// n deliveries of subject (or more) with outcome.
func (e env) waitHandled(t *testing.T, subject events.Subject, outcome events.Outcome, n int) {
	t.Helper()
	e.metrics.WaitHandled(t, subject, outcome, n, 10*time.Second)
}
