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
	// No httpapi.Deadline: a payment waits on Stripe (stripeTimeout) and on
	// orders' decision (ConfirmWait), and cutting it short would only turn
	// a charge into an unknown outcome. Its claims, not a deadline, make a
	// repeat of it safe (pay.go); its Idempotency-Keys are held for as
	// long as a payment may run (payer.longest).
	r := service.NewRouter(log, ready, a.sessions.Middleware)

	r.With(session.RequireAuth, a.keys.Middleware).Method(http.MethodPost, "/api/payments", httpapi.HandlerFunc(a.create))
	return r
}
