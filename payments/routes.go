package main

import (
	"log/slog"
	"net/http"

	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
)

// routes lists every route payments serves.
func routes(a *api, log *slog.Logger, ready ...service.Check) http.Handler {
	r := service.NewRouter(log, ready, a.sessions.Middleware)

	r.With(session.RequireAuth, a.keys.Middleware).Method(http.MethodPost, "/api/payments", httpapi.HandlerFunc(a.create))
	return r
}
