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
			sw := &statusWriter{ResponseWriter: w}
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v) // the server's own way of aborting a response
					}
					log.Error("panic", "method", r.Method, "path", r.URL.Path,
						"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
					if sw.status == 0 {
						WriteJSON(sw, r, http.StatusInternalServerError,
							envelope{Errors: []Detail{{Message: internalMessage}}})
					}
				}
				log.Debug("request", "method", r.Method, "path", r.URL.Path,
					"status", sw.status, "duration", time.Since(start))
			}()
			next.ServeHTTP(sw, r)
		})
	}
}

// statusWriter records the status for the access log and the recoverer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
