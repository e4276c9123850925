package httpapi

import (
	"context"
	"crypto/rand"
	"net/http"
)

// RequestIDHeader carries a request's id from the ingress through every
// service it reaches, and back to the caller.
const RequestIDHeader = "X-Request-ID"

// maxRequestIDLen bounds a caller's id: it is logged on every line.
const maxRequestIDLen = 128

type requestIDKey struct{}

// RequestID returns the id Middleware gave the request; "" outside one.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// RequestIDOf returns r's X-Request-ID when it is one worth keeping
// (1–128 printable ASCII characters, as ingress-nginx's are), else a new
// random one, so every request can be found in the logs.
func RequestIDOf(r *http.Request) string {
	if id := r.Header.Get(RequestIDHeader); validRequestID(id) {
		return id
	}
	return rand.Text()
}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := range len(id) {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}
