package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/validate"
)

var kit = testkit.New()

func TestMain(m *testing.M) { os.Exit(kit.Run(m)) }

const jwtKey = "test-jwt-key"

// syncBuffer collects log lines written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testServer is the auth API on a fresh database, with its logs captured.
type testServer struct {
	URL  string
	logs *syncBuffer
}

func newTestServer(t *testing.T) testServer {
	t.Helper()
	db := kit.Mongo(t)
	users, err := newUserStore(context.Background(), db.Database)
	require.NoError(t, err)
	logs := &syncBuffer{}
	log := service.NewLogger(logs, "auth", "debug")
	a := &api{users: users, sessions: session.NewManager(jwtKey, true), validate: validate.New()}
	srv := httptest.NewServer(routes(a, log, service.MongoCheck(db.Database)))
	t.Cleanup(srv.Close)
	return testServer{URL: srv.URL, logs: logs}
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
