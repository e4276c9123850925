package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noiseLine is what a clean run never prints: ERROR or WARN in a
// service's JSON log or the stack's text logs (FerretDB's included),
// PostgreSQL's FATAL or ERROR, redis-server's WARNING.
var noiseLine = regexp.MustCompile(`FATAL|PANIC|ERROR|WARN`)

// The odd requests of the security probe and the ordinary mistakes of
// users, through the ingress of a stack of its own, which then stops as
// Ctrl-C stops it: from start to stop, not one line of noise.
func TestHygieneThroughTheIngressAndACleanStop(t *testing.T) {
	s, out := startStack(t, t.TempDir(), nil)
	b := newBrowser(t, s.URL())
	send := func(method, path, contentType string, body io.Reader) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, s.URL()+path, body)
		require.NoError(t, err)
		req.Host = "ticketing.dev"
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := b.c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(raw)
	}

	t.Run("unknown API routes are JSON 404s wherever they end up", func(t *testing.T) {
		for _, path := range []string{"/api/x", "/api/nothing/here", "/API/X", "/api/users/nope", "/api/tickets/a/b/c"} {
			resp, body := send("GET", path, "", nil)
			assert.Equal(t, 404, resp.StatusCode, path)
			assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"), path)
			assert.JSONEq(t, `{"errors":[{"message":"Not Found"}]}`, body, path)
		}
		resp, body := send("POST", "/api/x", "application/json", strings.NewReader(`{}`))
		assert.Equal(t, 404, resp.StatusCode)
		assert.JSONEq(t, `{"errors":[{"message":"Not Found"}]}`, body)
	})

	t.Run("a 10 MB body is a 413 envelope", func(t *testing.T) {
		resp, body := send("POST", "/api/tickets", "application/json", io.LimitReader(zeros{}, 10<<20))
		assert.Equal(t, 413, resp.StatusCode)
		assert.JSONEq(t, `{"errors":[{"message":"Request body too large: the limit is 1 MiB"}]}`, body)
		resp, _ = send("POST", "/tickets/new", "multipart/form-data; boundary=x", io.LimitReader(zeros{}, 10<<20))
		assert.Equal(t, 413, resp.StatusCode, "a page's upload too")
		resp, _ = send("POST", "/tickets/new", "multipart/form-data; boundary=x", strings.NewReader("--x--\r\n"))
		assert.Equal(t, 415, resp.StatusCode, "the client takes url-encoded forms only")
	})

	email := uniqueEmail("hygiene")
	signup := b.do("POST", "/api/users/signup", map[string]string{"email": email, "password": "password1"})
	require.Equal(t, 201, signup.Status, signup.Raw)
	ticket := b.do("POST", "/api/tickets", map[string]any{"title": "Hygiene", "price": 10})
	require.Equal(t, 201, ticket.Status, ticket.Raw)

	t.Run("HEAD answers the GET routes", func(t *testing.T) {
		for _, path := range []string{"/", "/auth/signin", "/auth/signup", "/auth/signout", "/tickets/new", "/orders",
			"/tickets/" + ticket.Body["id"].(string), "/static/app.css",
			"/api/users/currentuser", "/api/tickets", "/api/tickets/" + ticket.Body["id"].(string), "/api/orders"} {
			get, _ := send("GET", path, "", nil)
			head, body := send("HEAD", path, "", nil)
			assert.Equal(t, get.StatusCode, head.StatusCode, path)
			assert.NotEqual(t, 404, head.StatusCode, path)
			assert.Empty(t, body, path)
		}
	})

	t.Run("API answers are nosniff, and no-store when signed in", func(t *testing.T) {
		resp, _ := send("GET", "/api/orders", "", nil)
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
		assert.Empty(t, resp.Header.Get("Strict-Transport-Security"), "the local stack is plain HTTP (COOKIE_SECURE=false)")
		resp, _ = http.Get(s.URL() + "/api/tickets") // no session
		resp.Body.Close()
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		assert.Empty(t, resp.Header.Get("Cache-Control"))
	})

	t.Run("malformed escapes are a 400", func(t *testing.T) {
		for _, path := range []string{"/static/%c0%ae%c0%ae/", "/api/tickets/%c0%ae"} {
			resp, _ := send("GET", path, "", nil)
			assert.Equal(t, 400, resp.StatusCode, path)
		}
	})

	// Each is a unique key already taken in FerretDB, which would log it
	// as an ERROR of its own (docdb demotes it).
	t.Run("an email in use and a lost race for a ticket are the users' errors", func(t *testing.T) {
		again := newBrowser(t, s.URL()).do("POST", "/api/users/signup", map[string]string{"email": email, "password": "password1"})
		assert.Equal(t, 400, again.Status, again.Raw)

		tid := ticket.Body["id"].(string)
		seller := &browser{t: t, base: b.base, c: b.c}
		eventually(t, "orders has heard of the ticket (the seller's own: 400, not 404)", func() bool {
			return seller.do("POST", "/api/orders", map[string]any{"ticketId": tid}).Status == 400
		})
		buyers := []*browser{signedUp(t, s.URL(), "racer"), signedUp(t, s.URL(), "racer")}
		statuses := make([]int, len(buyers))
		var wg sync.WaitGroup
		for i, buyer := range buyers {
			wg.Go(func() { statuses[i] = buyer.do("POST", "/api/orders", map[string]any{"ticketId": tid}).Status })
		}
		wg.Wait()
		assert.ElementsMatch(t, []int{201, 400}, statuses, "one buyer gets the ticket")
	})

	s.Stop()
	for _, line := range strings.Split(out.String(), "\n") {
		assert.NotRegexp(t, noiseLine, line)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
