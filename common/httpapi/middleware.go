package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"
)

type loggerKey struct{}

// Logger returns the request's logger put there by Middleware; a logger that
// discards everything when there is none.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return discard
}

// Middleware gives each request its id (the caller's X-Request-ID or a new
// one, returned in the response) and the service's logger carrying it, logs
// one access line per request, and turns a panic into a logged 500 envelope.
func Middleware(base *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			id := RequestIDOf(r)
			w.Header().Set(RequestIDHeader, id)
			log := base.With("requestId", id)
			ctx := context.WithValue(r.Context(), requestIDKey{}, id)
			r = r.WithContext(context.WithValue(ctx, loggerKey{}, log))
			sw := &StatusWriter{ResponseWriter: w}
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v) // the server's own way of aborting a response
					}
					log.Error("panic", "method", r.Method, "path", r.URL.Path,
						"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
					if sw.Code == 0 {
						WriteJSON(sw, r, http.StatusInternalServerError,
							envelope{Errors: []Detail{{Message: internalMessage}}})
					}
				}
				log.Debug("request", "method", r.Method, "path", r.URL.Path,
					"status", sw.Code, "duration", time.Since(start))
			}()
			next.ServeHTTP(sw, r)
		})
	}
}

// StatusWriter passes a response through and records its status, for the
// access log, the recoverer, metrics and idempotent replays.
type StatusWriter struct {
	http.ResponseWriter
	// Code is the status sent, 0 while nothing is (1xx informational
	// answers do not count).
	Code int
}

func (w *StatusWriter) WriteHeader(code int) {
	if w.Code == 0 && code >= 200 {
		w.Code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.Code == 0 {
		w.Code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Status is the status sent, or 200, what a handler that sent nothing
// answers.
func (w *StatusWriter) Status() int {
	if w.Code == 0 {
		return http.StatusOK
	}
	return w.Code
}

// Unwrap lets http.ResponseController reach the real writer (flushes,
// deadlines).
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// RequestTimeout is how long an API request may run: Deadline puts it on
// the request's context, so every database call under it gives up in time.
// Whatever waits for a request (the local balancer, a stale idempotency key)
// may take it as the longest a live request takes.
const RequestTimeout = 15 * time.Second

// Deadline ends a request's context after d: its database and bus calls
// fail then, and it answers (a 500) instead of hanging.
func Deadline(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}
