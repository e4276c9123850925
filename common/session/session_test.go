package session_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/session"
)

const key = "test-key"

// whoami answers the current user, or "none".
func whoami(m *session.Manager) http.Handler {
	return m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := session.CurrentUser(r.Context())
		if !ok {
			_, _ = w.Write([]byte("none"))
			return
		}
		_ = json.NewEncoder(w).Encode(u)
	}))
}

func requestWith(value string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: "session", Value: value})
	return r
}

func cookieFor(token string) string {
	b, _ := json.Marshal(map[string]string{"jwt": token})
	return base64.StdEncoding.EncodeToString(b)
}

func current(t *testing.T, m *session.Manager, r *http.Request) string {
	t.Helper()
	rec := httptest.NewRecorder()
	whoami(m).ServeHTTP(rec, r)
	return strings.TrimSpace(rec.Body.String())
}

func TestSignInSetsCookieTheMiddlewareReads(t *testing.T) {
	m := session.NewManager(key, true)
	rec := httptest.NewRecorder()
	require.NoError(t, m.SignIn(rec, httptest.NewRequest("POST", "/", nil), "abc", "a@b.co"))
	cookies := rec.Result().Cookies()
	require.Len(t, cookies, 1)
	c := cookies[0]
	assert.Equal(t, "session", c.Name)
	assert.Equal(t, "/", c.Path)
	assert.True(t, c.HttpOnly)
	assert.True(t, c.Secure)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)

	got := current(t, m, requestWith(c.Value))
	var u session.User
	require.NoError(t, json.Unmarshal([]byte(got), &u))
	assert.Equal(t, "abc", u.ID)
	assert.Equal(t, "a@b.co", u.Email)
	assert.InDelta(t, time.Now().Unix(), u.IssuedAt, 5)
}

func TestCookieFormatIsBase64JSONWithJWTLikeCookieSession(t *testing.T) {
	c, err := session.NewManager(key, false).Cookie("abc", "a@b.co")
	require.NoError(t, err)
	raw, err := base64.StdEncoding.DecodeString(c.Value)
	require.NoError(t, err)
	var v map[string]string
	require.NoError(t, json.Unmarshal(raw, &v))
	tok, _, err := jwt.NewParser().ParseUnverified(v["jwt"], jwt.MapClaims{})
	require.NoError(t, err)
	assert.Equal(t, "HS256", tok.Header["alg"])
	claims := tok.Claims.(jwt.MapClaims)
	assert.Equal(t, "abc", claims["id"])
	assert.Equal(t, "a@b.co", claims["email"])
	assert.NotNil(t, claims["iat"])
	assert.False(t, c.Secure, "Secure is off when configured off")
}

func TestTokenFromTheOriginalIsAccepted(t *testing.T) {
	// jsonwebtoken's jwt.sign({id,email}, key): HS256 with iat, no exp;
	// accepted while its iat is within the session TTL.
	iat := time.Now().Add(-time.Hour).Unix()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"id": "5f1", "email": "x@y.z", "iat": iat})
	s, err := tok.SignedString([]byte(key))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf(`{"id":"5f1","email":"x@y.z","iat":%d}`, iat), current(t, session.NewManager(key, true), requestWith(cookieFor(s))))
}

func TestBadSessionsGiveNoUser(t *testing.T) {
	m := session.NewManager(key, true)
	good, err := m.Token("abc", "a@b.co")
	require.NoError(t, err)

	otherKey, _ := session.NewManager("other-key", true).Token("abc", "a@b.co")
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"id": "abc", "email": "a@b.co", "iat": 1})
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"id": "abc", "email": "a@b.co"}).SignedString([]byte(key))
	noID, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"email": "a@b.co"}).SignedString([]byte(key))
	parts := strings.Split(good, ".")
	tamperedPayload := base64.RawURLEncoding.EncodeToString([]byte(`{"id":"admin","email":"a@b.co","iat":1}`))

	cases := map[string]string{
		"signed with another key": cookieFor(otherKey),
		"alg none":                cookieFor(noneTok),
		"other HMAC algorithm":    cookieFor(hs512),
		"missing id":              cookieFor(noID),
		"tampered payload":        cookieFor(parts[0] + "." + tamperedPayload + "." + parts[2]),
		"not base64":              "%%%not-base64",
		"base64 but not JSON":     base64.StdEncoding.EncodeToString([]byte("hello")),
		"jwt is not a string":     base64.StdEncoding.EncodeToString([]byte(`{"jwt":42}`)),
		"empty":                   "",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, "none", current(t, m, requestWith(value)))
		})
	}
	assert.Equal(t, "none", current(t, m, httptest.NewRequest("GET", "/", nil)), "no cookie")
}

func TestSignOutExpiresTheCookie(t *testing.T) {
	m := session.NewManager(key, true)
	rec := httptest.NewRecorder()
	require.NoError(t, m.SignOut(rec, httptest.NewRequest("POST", "/", nil)))
	cookies := rec.Result().Cookies()
	require.Len(t, cookies, 1)
	assert.Equal(t, "session", cookies[0].Name)
	assert.Empty(t, cookies[0].Value)
	assert.True(t, cookies[0].Expires.Before(time.Now()), "expired: %v", cookies[0].Expires)
	assert.Equal(t, -1, cookies[0].MaxAge)
}

func TestRequireAuthRejectsAnonymousWith401Envelope(t *testing.T) {
	m := session.NewManager(key, true)
	h := m.Middleware(session.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("secret"))
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, 401, rec.Code)
	assert.JSONEq(t, `{"errors":[{"message":"Not authorized"}]}`, rec.Body.String())

	c, err := m.Cookie("abc", "a@b.co")
	require.NoError(t, err)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, requestWith(c.Value))
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, "secret", rec.Body.String())
}
