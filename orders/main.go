// Command orders is the orders service: reservations that never
// double-book, the order lifecycle and its events (DESIGN §2 Orders, §3).
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

func main() { service.Main("orders", run) }

// sweepInterval is how often events left in outboxes are retried.
const sweepInterval = 5 * time.Second

// run serves the orders API and listens to ticket, expiration and payment
// events until ctx is done or the bus connection is lost.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := service.NewLogger(stdout, "orders", cfg.LogLevel)

	db, err := service.ConnectMongo(cfg.MongoURI, "orders")
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

	locks := &outbox.Locks{}
	st := newStore(db, locks)
	if err := st.ensureIndexes(ctx); err != nil {
		return err
	}
	relay := outbox.NewRelay(st.orders, conn, locks, log)
	l := &listeners{store: st, relay: relay, log: log}
	if _, err := l.subscribe(ctx, conn, cfg.NATS.AckWait); err != nil {
		return err
	}
	go relay.Run(ctx, sweepInterval)

	a := &api{store: st, relay: relay, sessions: session.NewManager(cfg.JWTKey, cfg.CookieSecure),
		validate: validate.New(), window: cfg.ExpirationWindow}
	err = service.ServeHTTP(ctx, log, cfg.HTTP, routes(a, log, service.MongoCheck(db), service.BusCheck(conn)))
	return service.ExitError(ctx, err)
}
