package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
)

// CSRF protection by a double submit bound to the session: every browser
// gets a random secret in a SameSite=Strict, HttpOnly cookie, and each form
// carries HMAC-SHA256(secret, session cookie), never the secret itself. A
// POST whose form token is not that HMAC for the cookies it arrives with is
// refused, so a token read from one session's page is useless in another
// (another browser, or the same browser after signing in or out). No server
// key is needed: any replica of the client checks any replica's token. Go's
// CrossOriginProtection (Sec-Fetch-Site / Origin checks) runs in front of it
// as a second line.

const (
	csrfCookie = "csrf_token"
	csrfField  = "csrf_token"
)

type csrfKey struct{}

// csrfToken returns the request's token, for forms.
func csrfToken(ctx context.Context) string {
	t, _ := ctx.Value(csrfKey{}).(string)
	return t
}

// sessionToken is the form token of the browser's secret for the session
// the request carries ("" when signed out).
func sessionToken(secret []byte, r *http.Request) string {
	session := ""
	if c, err := r.Cookie("session"); err == nil {
		session = c.Value
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("csrf\x00" + session))
	return hex.EncodeToString(mac.Sum(nil))
}

// csrf checks POSTs and makes sure every visitor has a secret.
func csrf(secure bool, refuse http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var secret []byte
			if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 64 {
				secret, _ = hex.DecodeString(c.Value)
			}
			if r.Method == http.MethodPost {
				// The body was parsed (url-encoded only, bounded) by formBodies.
				sent, _ := hex.DecodeString(r.PostForm.Get(csrfField))
				want, _ := hex.DecodeString(sessionToken(secret, r))
				if secret == nil || !hmac.Equal(sent, want) {
					refuse.ServeHTTP(w, r)
					return
				}
			}
			if secret == nil {
				secret = make([]byte, 32)
				_, _ = rand.Read(secret)
				http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: hex.EncodeToString(secret), Path: "/",
					HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
			}
			token := sessionToken(secret, r)
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), csrfKey{}, token)))
		})
	}
}
