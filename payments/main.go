// Command payments is the payments service: Stripe charges that are never
// taken twice, and payment:created (docs/CONTRACT.md §2 Payments, §3).
package main

import (
	"context"
	"io"

	"ticketing.dev/common/service"
	"ticketing.dev/common/service/backend"
	"ticketing.dev/common/validate"
)

func main() { service.Main("payments", run) }

// build is payments' own part of the backend: the payment store and order
// replica, the payer and its Stripe account, the listeners to order events
// and the routes.
func build(ctx context.Context, b *backend.Base, cfg config) (backend.Parts, error) {
	st, err := newStore(ctx, b.DB, b.Outbox)
	if err != nil {
		return backend.Parts{}, err
	}
	p := &payer{store: st, charges: newStripeCharges(cfg.StripeKey, cfg.StripeAPIBase), confirmWait: cfg.ConfirmWait, log: b.Log}
	l := &listeners{store: st, payer: p, log: b.Log}
	a := &api{payer: p, keys: b.IdempotencyKeys(ctx).ForRequestsUpTo(p.longest()), sessions: b.Sessions, validate: validate.New()}
	return backend.Parts{Routes: routes(a, b.Log, b.Ready()...), QueueGroup: queueGroup, Subscribe: l.subscribe}, nil
}

// run serves the payments API and keeps the order replica until ctx is done
// or the bus connection is lost.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	return backend.Run(ctx, "payments", getenv, stdout, loadConfig, build)
}
