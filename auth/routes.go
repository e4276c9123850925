package main

import (
	"log/slog"
	"net/http"

	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/service"
)

// routes lists every route auth serves.
func routes(a *api, log *slog.Logger, ready ...service.Check) http.Handler {
	r := service.NewRouter(log, ready, httpapi.Deadline(httpapi.RequestTimeout), a.sessions.Middleware)

	r.Method(http.MethodPost, "/api/users/signup", httpapi.HandlerFunc(a.signup))
	r.Method(http.MethodPost, "/api/users/signin", httpapi.HandlerFunc(a.signin))
	r.Method(http.MethodPost, "/api/users/signout", httpapi.HandlerFunc(a.signout))
	r.Method(http.MethodGet, "/api/users/currentuser", httpapi.HandlerFunc(a.currentUser))
	return r
}
