// Command orders is the orders service: reservations that never
// double-book, the order lifecycle and its events (DESIGN §2 Orders, §3).
package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/stan.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/deadletter"
	"ticketing.dev/common/idempotency"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
	"ticketing.dev/common/validate"
)

func main() { service.Main("orders", run) }

// sweepInterval is how often the relay looks for events left pending by a
// failed publish or a crashed process (an indexed lookup, cheap).
const sweepInterval = time.Second

// run serves the orders API and listens to ticket, expiration and payment
// events until ctx is done or the bus connection is lost.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := service.NewLogger(stdout, "orders", cfg.LogLevel)

	reg := metrics.NewRegistry()
	db, err := service.ConnectMongo(cfg.MongoURI, "orders", metrics.Mongo(reg))
	if err != nil {
		return err
	}
	defer db.Client().Disconnect(context.WithoutCancel(ctx))

	bus, err := service.ConnectBus(ctx, cfg.NATS)
	if err != nil {
		return err
	}
	defer bus.Close()
	ctx, conn := bus.Context, bus.Conn

	h, stop, err := wire(ctx, db, conn, log, cfg, reg)
	if err != nil {
		return err
	}
	defer stop()
	err = service.ListenAndServe(ctx, log, cfg.HTTP, metrics.Instrument(reg, h))
	return service.ExitError(ctx, err)
}

// wire builds the service on its database and bus, measured on reg (nil
// in tests): the outbox log and its relay (running until stop), the
// listeners and the routes.
func wire(ctx context.Context, db *mongo.Database, conn stan.Conn, log *slog.Logger, cfg config, reg prometheus.Registerer) (http.Handler, func(), error) {
	olog := outbox.NewLog(db, conn, log)
	olog.Observe(metrics.NewOutbox(reg))
	if err := olog.EnsureIndexes(ctx); err != nil {
		return nil, nil, err
	}
	st := newStore(db, olog)
	if err := st.ensureIndexes(ctx); err != nil {
		return nil, nil, err
	}
	l := &listeners{store: st, log: log}
	listen := cfg.NATS.Listener(queueGroup, log, deadletter.New(db))
	listen.Observer = metrics.NewEvents(reg)
	if _, err := l.subscribe(ctx, conn, listen); err != nil {
		return nil, nil, err
	}
	sessions, err := service.Sessions(conn, cfg.JWTKey, cfg.CookieSecure, cfg.SessionTTL)
	if err != nil {
		return nil, nil, err
	}
	stop := olog.Start(ctx, sweepInterval)
	a := &api{store: st, keys: idempotency.New(db), sessions: sessions,
		validate: validate.New(), window: cfg.ExpirationWindow, maxOpen: cfg.MaxOpenOrders}
	return routes(a, log, service.MongoCheck(db), service.BusCheck(conn)), stop, nil
}
