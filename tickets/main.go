// Command tickets is the tickets service: the catalogue, ownership, the
// reservation lock and their events (DESIGN §2 Tickets, §3).
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

func main() { service.Main("tickets", run) }

// sweepInterval is how often events left in outboxes are retried.
const sweepInterval = 5 * time.Second

// run serves the tickets API and listens to order events until ctx is done
// or the bus connection is lost.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := service.NewLogger(stdout, "tickets", cfg.LogLevel)

	db, err := service.ConnectMongo(cfg.MongoURI, "tickets")
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
	tickets := newTicketStore(db, locks)
	relay := outbox.NewRelay(tickets.c, conn, locks, log)
	l := &listeners{tickets: tickets, relay: relay}
	if _, err := l.subscribe(ctx, conn, cfg.NATS.AckWait, log); err != nil {
		return err
	}
	go relay.Run(ctx, sweepInterval)

	a := &api{tickets: tickets, relay: relay, sessions: session.NewManager(cfg.JWTKey, cfg.CookieSecure), validate: validate.New()}
	err = service.ServeHTTP(ctx, log, cfg.HTTP, routes(a, log, service.MongoCheck(db), service.BusCheck(conn)))
	return service.ExitError(ctx, err)
}
