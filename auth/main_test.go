package main

import (
	"context"
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/events"
	"ticketing.dev/common/service"
	"ticketing.dev/common/service/backend"
	"ticketing.dev/common/testkit"
)

var kit = testkit.New()

func TestMain(m *testing.M) { os.Exit(kit.Run(m)) }

const jwtKey = "test-jwt-key"

// testServer is the auth API on a fresh database and bus, with its logs
// captured.
type testServer struct {
	URL  string
	logs *testkit.SyncBuffer
	db   testkit.DB
	stan *testkit.Broker
	cfg  config
}

// testConfig is the configuration tests run auth with: the defaults of
// loadConfig, with a test key.
func testConfig(t *testing.T) config {
	t.Helper()
	cfg, err := loadConfig(func(k string) string {
		return map[string]string{"MONGO_URI": "unused", "JWT_KEY": jwtKey, "NATS_URL": "unused", "NATS_CLUSTER_ID": "unused", "NATS_CLIENT_ID": "unused"}[k]
	})
	require.NoError(t, err)
	return cfg
}

func newTestServer(t *testing.T) testServer {
	t.Helper()
	return newTestServerWith(t, testConfig(t))
}

// newTestServerWith starts auth with cfg (see process).
func newTestServerWith(t *testing.T, cfg config) testServer {
	t.Helper()
	s := testServer{logs: &testkit.SyncBuffer{}, db: kit.Mongo(t), stan: testkit.NewSTAN(t), cfg: cfg}
	s.URL = s.process(t)
	return s
}

// process starts one more process of auth on the server's database and
// bus (testkit.StartService) and returns its URL.
func (s testServer) process(t *testing.T) string {
	t.Helper()
	log := service.NewLogger(s.logs, "auth", "debug")
	url, _ := testkit.StartService(t, s.db, s.stan, func(ctx context.Context, db *mongo.Database, conn events.Bus) (http.Handler, func(), error) {
		return backend.Wire(ctx, db, conn, log, s.cfg, nil, build)
	})
	return url
}

// do sends a request to the service under test (see testkit.Do).
func do(t *testing.T, method, url, body string, cookies ...*http.Cookie) response {
	t.Helper()
	return testkit.Do(t, method, url, body, cookies...)
}

type response = testkit.Response

func sessionCookie(t *testing.T, r response) *http.Cookie {
	t.Helper()
	for _, c := range r.Cookies {
		if c.Name == "session" {
			return c
		}
	}
	t.Fatalf("no session cookie in response %d %s", r.Status, r.Raw)
	return nil
}

func messages(r response) []string {
	var out []string
	errs, _ := r.Body["errors"].([]any)
	for _, e := range errs {
		m, _ := e.(map[string]any)
		s, _ := m["message"].(string)
		out = append(out, s)
	}
	return out
}

func fields(r response) []string {
	var out []string
	errs, _ := r.Body["errors"].([]any)
	for _, e := range errs {
		m, _ := e.(map[string]any)
		s, _ := m["field"].(string)
		out = append(out, s)
	}
	return out
}
