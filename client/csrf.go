package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
)

// CSRF protection by double submit: every page carries a random token in a
// SameSite=Strict cookie and in each form; a POST whose form token does not
// match its cookie is refused. Go's CrossOriginProtection (Sec-Fetch-Site /
// Origin checks) runs in front of it as a second line.

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

// csrf checks POSTs and makes sure every visitor has a token.
func csrf(secure bool, refuse http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token := ""
			if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 64 {
				token = c.Value
			}
			if r.Method == http.MethodPost {
				sent := r.PostFormValue(csrfField)
				if token == "" || subtle.ConstantTimeCompare([]byte(sent), []byte(token)) != 1 {
					refuse.ServeHTTP(w, r)
					return
				}
			}
			if token == "" {
				b := make([]byte, 32)
				_, _ = rand.Read(b)
				token = hex.EncodeToString(b)
				http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: token, Path: "/",
					HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), csrfKey{}, token)))
		})
	}
}
