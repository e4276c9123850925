package main

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/service"
)

// routes lists every route auth serves.
func routes(a *api, log *slog.Logger, ready ...service.Check) http.Handler {
	r := chi.NewRouter()
	r.Use(httpapi.Middleware(log), middleware.StripSlashes, a.sessions.Middleware)
	r.NotFound(httpapi.NotFound)
	r.MethodNotAllowed(httpapi.NotFound)

	r.Get("/healthz", service.Healthz)
	r.Get("/readyz", service.Readyz(ready...))

	r.Method(http.MethodPost, "/api/users/signup", httpapi.HandlerFunc(a.signup))
	r.Method(http.MethodPost, "/api/users/signin", httpapi.HandlerFunc(a.signin))
	r.Method(http.MethodPost, "/api/users/signout", httpapi.HandlerFunc(a.signout))
	r.Method(http.MethodGet, "/api/users/currentuser", httpapi.HandlerFunc(a.currentUser))
	return r
}
