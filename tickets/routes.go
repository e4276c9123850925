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

// routes lists every route tickets serves.
func routes(a *api, log *slog.Logger, ready ...service.Check) http.Handler {
	r := chi.NewRouter()
	r.Use(httpapi.Middleware(log), middleware.StripSlashes, a.sessions.Middleware)
	r.NotFound(httpapi.NotFound)
	r.MethodNotAllowed(httpapi.NotFound)

	r.Get("/healthz", service.Healthz)
	r.Get("/readyz", service.Readyz(ready...))

	r.Method(http.MethodGet, "/api/tickets", httpapi.HandlerFunc(a.list))
	r.Method(http.MethodGet, "/api/tickets/{id}", httpapi.HandlerFunc(a.show))
	r.With(session.RequireAuth).Method(http.MethodPost, "/api/tickets", httpapi.HandlerFunc(a.create))
	r.With(session.RequireAuth).Method(http.MethodPut, "/api/tickets/{id}", httpapi.HandlerFunc(a.update))
	return r
}
