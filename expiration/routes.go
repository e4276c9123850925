package main

import (
	"log/slog"
	"net/http"

	"ticketing.dev/common/service"
)

// routes lists every route expiration serves: health only.
func routes(log *slog.Logger, ready ...service.Check) http.Handler {
	r := service.NewRouter(log, ready)
	return r
}
