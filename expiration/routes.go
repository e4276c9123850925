package main

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/service"
)

// routes lists every route expiration serves: health only.
func routes(log *slog.Logger, ready ...service.Check) http.Handler {
	r := chi.NewRouter()
	r.Use(httpapi.Middleware(log))
	r.NotFound(httpapi.NotFound)
	r.MethodNotAllowed(httpapi.NotFound)
	r.Get("/healthz", service.Healthz)
	r.Get("/readyz", service.Readyz(ready...))
	return r
}
