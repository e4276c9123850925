// Command payments is the payments service: Stripe charges that are never
// taken twice, and payment:created (DESIGN §2 Payments, §3).
package main

import (
	"context"
	"io"
	"time"

	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
	"ticketing.dev/common/validate"
)

func main() { service.Main("payments", run) }

// sweepInterval is how often events left in outboxes are retried.
const sweepInterval = 5 * time.Second

// run serves the payments API and keeps the order replica until ctx is done
// or the bus connection is lost.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := service.NewLogger(stdout, "payments", cfg.LogLevel)

	db, err := service.ConnectMongo(cfg.MongoURI, "payments")
	if err != nil {
		return err
	}
	defer db.Client().Disconnect(context.WithoutCancel(ctx))

	conn, ctx, cancel, err := service.ConnectBus(ctx, cfg.NATS)
	if err != nil {
		return err
	}
	defer cancel(nil)
	defer conn.Close() // closes subscriptions too; durable positions are kept

	st := newStore(db)
	if err := st.ensureIndexes(ctx); err != nil {
		return err
	}
	relay := outbox.NewRelay(st.payments, conn, &outbox.Locks{}, log)
	l := &listeners{store: st, log: log}
	if _, err := l.subscribe(ctx, conn, cfg.NATS.AckWait); err != nil {
		return err
	}
	go relay.Run(ctx, sweepInterval)

	a := &api{store: st, charges: newStripeCharges(cfg.StripeKey, cfg.StripeAPIBase), relay: relay,
		sessions: session.NewManager(cfg.JWTKey, cfg.CookieSecure), validate: validate.New()}
	err = service.ServeHTTP(ctx, log, cfg.HTTP, routes(a, log, service.MongoCheck(db), service.BusCheck(conn)))
	return service.ExitError(ctx, err)
}
