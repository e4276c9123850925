package testkit

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"ticketing.dev/common/events"
	"ticketing.dev/common/session"
)

// SessionCookie returns a valid session cookie for the user, signed with
// jwtKey, as the auth service would set it after signin.
func SessionCookie(t testing.TB, jwtKey, id, email string) *http.Cookie {
	t.Helper()
	c, err := session.NewManager(jwtKey, false).Cookie(id, email)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// RevokeSession publishes on conn the session:revoked event for the
// cookie's token, as auth does when that session signs out.
func RevokeSession(t testing.TB, conn events.Bus, jwtKey string, c *http.Cookie) {
	t.Helper()
	var u session.User
	found := false
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(c)
	session.NewManager(jwtKey, false).Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		u, found = session.CurrentUser(r.Context())
	})).ServeHTTP(httptest.NewRecorder(), r)
	if !found {
		t.Fatal("RevokeSession: the cookie holds no valid session")
	}
	Publish(t, conn, u.Revocation())
}
