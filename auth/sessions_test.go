package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

// claimsOf decodes the JWT inside a session cookie without checking it.
func claimsOf(t *testing.T, c *http.Cookie) map[string]any {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(c.Value)
	require.NoError(t, err)
	var v map[string]string
	require.NoError(t, json.Unmarshal(raw, &v))
	parts := strings.Split(v["jwt"], ".")
	require.Len(t, parts, 3)
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(body, &claims))
	return claims
}

func TestSigninMintsExpOneSessionTTLAfterIat(t *testing.T) {
	cfg := testConfig(t)
	cfg.SessionTTL = 2 * time.Hour
	s := newTestServerWith(t, cfg)
	c := sessionCookie(t, do(t, "POST", s.URL+"/api/users/signup", creds))
	claims := claimsOf(t, c)
	assert.Equal(t, float64(2*3600), claims["exp"].(float64)-claims["iat"].(float64))
	assert.NotEmpty(t, claims["jti"])

	me := do(t, "GET", s.URL+"/api/users/currentuser", "", c)
	cu := me.Body["currentUser"].(map[string]any)
	assert.Equal(t, claims["exp"], cu["exp"], "currentUser shows the token's claims, exp included, as the original did")
}

func TestSignoutRevokesTheTokenOnEveryAuthProcessAndAnnouncesIt(t *testing.T) {
	s := newTestServer(t)
	second := s.process(t)
	bus := s.stan.Connect(t)
	revoked := testkit.Capture[events.SessionRevoked](t, bus)

	up := do(t, "POST", s.URL+"/api/users/signup", creds)
	copied := sessionCookie(t, up)
	other := sessionCookie(t, do(t, "POST", s.URL+"/api/users/signin", creds))
	for _, url := range []string{s.URL, second} {
		require.NotNil(t, do(t, "GET", url+"/api/users/currentuser", "", copied).Body["currentUser"])
	}

	out := do(t, "POST", second+"/api/users/signout", "", copied)
	require.Equal(t, 200, out.Status, out.Raw)
	assert.Empty(t, sessionCookie(t, out).Value, "the browser's cookie is cleared")

	for _, url := range []string{s.URL, second} {
		assert.Eventually(t, func() bool {
			r := do(t, "GET", url+"/api/users/currentuser", "", copied)
			return r.Status == 200 && r.Body["currentUser"] == nil
		}, 5*time.Second, 20*time.Millisecond, "%s forgets the copy of the signed-out cookie", url)
		assert.NotNil(t, do(t, "GET", url+"/api/users/currentuser", "", other).Body["currentUser"], "the other session goes on")
	}
	e := revoked.Wait(t, 1, 5*time.Second)[0]
	claims := claimsOf(t, copied)
	assert.Equal(t, up.Body["id"], e.UserID)
	assert.Equal(t, claims["jti"], e.TokenID)
	assert.Equal(t, int64(claims["iat"].(float64)), e.IssuedAt)
	assert.Equal(t, int64(claims["exp"].(float64)), e.Until.Unix())

	// Signing out the copy again is a plain 200 and announces nothing new.
	// The answer comes after the revocation's commit, which publishes its
	// event before it returns (held until the bus stores it; only a bus
	// away for longer leaves it to the sweep, seconds later), so once the
	// 200 is in any second event is on the bus.
	require.Equal(t, 200, do(t, "POST", s.URL+"/api/users/signout", "", copied).Status)
	revoked.Exactly(t, 1)

	restarted := s.process(t)
	assert.JSONEq(t, `{"currentUser":null}`, do(t, "GET", restarted+"/api/users/currentuser", "", copied).Raw,
		"a process started after the signout refuses the copy at once")
}
