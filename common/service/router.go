package service

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"ticketing.dev/common/httpapi"
)

// NewRouter returns the router every API starts from: the logging and
// panic-recovering middleware, trailing slashes ignored (as Express did),
// then use, 404 envelopes for unknown routes and methods, and /healthz and
// /readyz with the given checks.
func NewRouter(log *slog.Logger, ready []Check, use ...func(http.Handler) http.Handler) *chi.Mux {
	r := chi.NewRouter()
	r.Use(httpapi.Middleware(log), middleware.StripSlashes)
	r.Use(use...)
	r.NotFound(httpapi.NotFound)
	r.MethodNotAllowed(httpapi.NotFound)
	r.Get("/healthz", Healthz)
	r.Get("/readyz", Readyz(ready...))
	return r
}
