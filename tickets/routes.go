package main

import (
	"log/slog"
	"net/http"

	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
)

// routes lists every route tickets serves.
func routes(a *api, log *slog.Logger, ready ...service.Check) http.Handler {
	r := service.NewRouter(log, ready, httpapi.Deadline(httpapi.RequestTimeout), a.sessions.Middleware)

	r.Method(http.MethodGet, "/api/tickets", httpapi.HandlerFunc(a.list))
	r.Method(http.MethodGet, "/api/tickets/{id}", httpapi.HandlerFunc(a.show))
	r.With(session.RequireAuth, a.keys.Middleware).Method(http.MethodPost, "/api/tickets", httpapi.HandlerFunc(a.create))
	r.With(session.RequireAuth).Method(http.MethodPut, "/api/tickets/{id}", httpapi.HandlerFunc(a.update))
	return r
}
