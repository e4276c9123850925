package service

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/session"
)

// NewRouter returns the router every API starts from: the logging and
// panic-recovering middleware, trailing slashes ignored (as Express did),
// HEAD answered by every GET route, a 400 for paths that are not UTF-8,
// nosniff on every answer, then use, "Cache-Control: no-store" when use
// found a signed-in user (session.Middleware), 404 envelopes for unknown
// routes and methods, and /healthz and /readyz with the given checks.
func NewRouter(log *slog.Logger, ready []Check, use ...func(http.Handler) http.Handler) *chi.Mux {
	r := chi.NewRouter()
	r.Use(httpapi.Middleware(log), middleware.StripSlashes, middleware.GetHead, httpapi.ValidPath, httpapi.NoSniff)
	r.Use(use...)
	r.Use(httpapi.NoStoreWhen(signedIn))
	r.NotFound(httpapi.NotFound)
	r.MethodNotAllowed(httpapi.NotFound)
	r.Get("/healthz", Healthz)
	r.Get("/readyz", Readyz(ready...))
	return r
}

// signedIn reports whether session.Middleware found a valid session.
func signedIn(r *http.Request) bool {
	_, ok := session.CurrentUser(r.Context())
	return ok
}
