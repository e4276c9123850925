package main

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
)

// routes lists every route orders serves. Every order route needs a user.
func routes(a *api, log *slog.Logger, ready ...service.Check) http.Handler {
	r := service.NewRouter(log, ready, httpapi.Deadline(httpapi.RequestTimeout), a.sessions.Middleware)

	r.Group(func(r chi.Router) {
		r.Use(session.RequireAuth)
		r.Method(http.MethodGet, "/api/orders", httpapi.HandlerFunc(a.list))
		r.With(a.keys.Middleware).Method(http.MethodPost, "/api/orders", httpapi.HandlerFunc(a.create))
		r.Method(http.MethodGet, "/api/orders/{id}", httpapi.HandlerFunc(a.show))
		r.Method(http.MethodDelete, "/api/orders/{id}", httpapi.HandlerFunc(a.cancel))
	})
	return r
}
