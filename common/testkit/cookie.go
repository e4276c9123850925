package testkit

import (
	"net/http"
	"testing"

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
