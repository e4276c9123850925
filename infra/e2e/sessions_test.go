package e2e

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sessionCookie is the browser's session cookie, as a copy taken from it.
// The browser sends Host: ticketing.dev, which is what its jar keeps the
// cookie under.
func (b *browser) sessionCookie() *http.Cookie {
	b.t.Helper()
	for _, c := range b.c.Jar.Cookies(&url.URL{Scheme: "http", Host: "ticketing.dev", Path: "/"}) {
		if c.Name == "session" {
			return &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	b.t.Fatal("no session cookie")
	return nil
}

// callWith sends one request with only the given cookie, bypassing the
// browser's jar, and returns its status and body.
func callWith(t *testing.T, c *http.Cookie, method, rawURL, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(c)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(raw)
}

func statusWith(t *testing.T, c *http.Cookie, method, rawURL, body string) int {
	t.Helper()
	status, _ := callWith(t, c, method, rawURL, body)
	return status
}

// authenticatedCall is one request per service that answers 401 without a
// valid session and something else with one.
var authenticatedCall = map[string][3]string{
	"tickets":  {"POST", "/api/tickets", `{"title":"Copied cookie","price":10}`},
	"orders":   {"GET", "/api/orders", ""},
	"payments": {"POST", "/api/payments", `{}`},
}

func TestCookieCopiedBeforeSignoutIsRefusedByEveryReplicaWithin5sAndAfterRestarts(t *testing.T) {
	s, _ := replicatedStack(t)
	b := signedUp(t, s.URL(), "copied")
	copied := b.sessionCookie()
	for name, call := range authenticatedCall {
		for i := range 2 {
			require.NotEqual(t, 401, statusWith(t, copied, call[0], s.ReplicaURL(name, i)+call[1], call[2]), "%s-%d before signout", name, i)
		}
	}

	require.Equal(t, 200, b.do("POST", "/api/users/signout", nil).Status)
	signedOut := time.Now()
	refusedBy := func() []string {
		var accepted []string
		for name, call := range authenticatedCall {
			for i := range 2 {
				if statusWith(t, copied, call[0], s.ReplicaURL(name, i)+call[1], call[2]) != 401 {
					accepted = append(accepted, name)
				}
			}
		}
		return accepted
	}
	require.Eventually(t, func() bool { return len(refusedBy()) == 0 }, 5*time.Second, 50*time.Millisecond,
		"every replica of tickets, orders and payments refuses the copy within 5 s; still accepting: %v", refusedBy())
	t.Logf("refused everywhere %s after signout", time.Since(signedOut).Round(time.Millisecond))
	for i := range 2 {
		_, me := callWith(t, copied, "GET", s.ReplicaURL("auth", i)+"/api/users/currentuser", "")
		assert.JSONEq(t, `{"currentUser":null}`, me, "auth-%d forgets the copy", i)
	}

	// A restarted replica replays the revocations before it answers.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, call := range authenticatedCall {
		_, err := s.Restart(ctx, name)
		require.NoError(t, err, name)
		assert.Equal(t, 401, statusWith(t, copied, call[0], s.ReplicaURL(name, 0)+call[1], call[2]), "%s restarted", name)
	}
	_, err := s.Restart(ctx, "auth")
	require.NoError(t, err)
	_, me := callWith(t, copied, "GET", s.ReplicaURL("auth", 0)+"/api/users/currentuser", "")
	assert.JSONEq(t, `{"currentUser":null}`, me, "restarted auth forgets the copy")
}
