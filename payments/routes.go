package main

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
)

// routes lists every route payments serves.
func routes(a *api, log *slog.Logger, ready ...service.Check) http.Handler {
	r := chi.NewRouter()
	r.Use(httpapi.Middleware(log), middleware.StripSlashes, a.sessions.Middleware)
	r.NotFound(httpapi.NotFound)
	r.MethodNotAllowed(httpapi.NotFound)

	r.Get("/healthz", service.Healthz)
	r.Get("/readyz", service.Readyz(ready...))

	r.With(session.RequireAuth).Method(http.MethodPost, "/api/payments", httpapi.HandlerFunc(a.create))
	return r
}
