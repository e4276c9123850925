// Command orders is the orders service: reservations that never
// double-book, the order lifecycle and its events (docs/CONTRACT.md §2 Orders, §3).
package main

import (
	"context"
	"io"

	"ticketing.dev/common/service"
	"ticketing.dev/common/service/backend"
	"ticketing.dev/common/validate"
)

func main() { service.Main("orders", run) }

// build is orders' own part of the backend: the order store and ticket
// replica, the listeners to ticket, expiration and payment events, and
// the routes.
func build(ctx context.Context, b *backend.Base, cfg config) (backend.Parts, error) {
	st, err := newStore(ctx, b.DB, b.Outbox)
	if err != nil {
		return backend.Parts{}, err
	}
	l := &listeners{store: st}
	a := &api{store: st, reserver: &reserver{store: st, window: cfg.ExpirationWindow, maxOpen: cfg.MaxOpenOrders},
		keys: b.IdempotencyKeys(ctx), sessions: b.Sessions, validate: validate.New()}
	return backend.Parts{Routes: routes(a, b.Log, b.Ready()...), QueueGroup: queueGroup, Subscribe: l.subscribe}, nil
}

// run serves the orders API and listens to ticket, expiration and payment
// events until ctx is done or the bus connection is lost.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	return backend.Run(ctx, "orders", getenv, stdout, loadConfig, build)
}
