// Command tickets is the tickets service: the catalogue, ownership, the
// reservation lock and their events (DESIGN §2 Tickets, §3).
package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/stan.go"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/deadletter"
	"ticketing.dev/common/idempotency"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
	"ticketing.dev/common/validate"
)

func main() { service.Main("tickets", run) }

// sweepInterval is how often the relay looks for events left pending by a
// failed publish or a crashed process (an indexed lookup, cheap).
const sweepInterval = time.Second

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

	h, stop, err := wire(ctx, db, conn, log, cfg)
	if err != nil {
		return err
	}
	defer stop()
	err = service.ServeHTTP(ctx, log, cfg.HTTP, h)
	return service.ExitError(ctx, err)
}

// wire builds the service on its database and bus: the outbox log and its
// relay (running until stop), the listeners and the routes.
func wire(ctx context.Context, db *mongo.Database, conn stan.Conn, log *slog.Logger, cfg config) (http.Handler, func(), error) {
	olog := outbox.NewLog(db, conn, log)
	if err := olog.EnsureIndexes(ctx); err != nil {
		return nil, nil, err
	}
	tickets := newTicketStore(db, olog)
	l := &listeners{tickets: tickets}
	if _, err := l.subscribe(ctx, conn, cfg.NATS.Listener(queueGroup, log, deadletter.New(db))); err != nil {
		return nil, nil, err
	}
	sessions, err := service.Sessions(conn, cfg.JWTKey, cfg.CookieSecure, cfg.SessionTTL)
	if err != nil {
		return nil, nil, err
	}
	stop := olog.Start(ctx, sweepInterval)
	a := &api{tickets: tickets, keys: idempotency.New(db), sessions: sessions, validate: validate.New()}
	return routes(a, log, service.MongoCheck(db), service.BusCheck(conn)), stop, nil
}
