// Command auth is the users service: sign up, sign in, sign out and the
// current user (DESIGN §2 Auth). main only wires; run is testable.
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

	"ticketing.dev/common/metrics"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
	"ticketing.dev/common/validate"
)

func main() { service.Main("auth", run) }

// sweepInterval is how often the outbox relay looks for revocations left
// unpublished by a failed publish or a crashed process.
const sweepInterval = time.Second

// run serves the auth API until ctx is done or the bus connection is lost.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := service.NewLogger(stdout, "auth", cfg.LogLevel)

	reg := metrics.NewRegistry()
	db, err := service.ConnectMongo(cfg.MongoURI, "auth", metrics.Mongo(reg))
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

// wire builds the service on its database and bus: users, the sign-in
// throttle and its pruning, revocations and their outbox relay (running
// until stop), and the routes.
func wire(ctx context.Context, db *mongo.Database, conn stan.Conn, log *slog.Logger, cfg config, reg prometheus.Registerer) (http.Handler, func(), error) {
	users, err := newUserStore(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	now := cfg.now
	if now == nil {
		now = time.Now
	}
	throttle, err := newThrottle(ctx, db, cfg.SigninMaxFailures, cfg.SigninFailureWindow, now)
	if err != nil {
		return nil, nil, err
	}
	olog := outbox.NewLog(db, conn, log)
	olog.Observe(metrics.NewOutbox(reg))
	if err := olog.EnsureIndexes(ctx); err != nil {
		return nil, nil, err
	}
	revoked := newRevocations(db, olog)
	sessions, err := service.Sessions(conn, cfg.JWTKey, cfg.CookieSecure, cfg.SessionTTL)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	stopRelay := olog.Start(ctx, sweepInterval)
	pruned := make(chan struct{})
	go func() {
		defer close(pruned)
		throttle.pruneEvery(ctx, log)
	}()
	stop := func() { cancel(); stopRelay(); <-pruned }
	a := &api{users: users, sessions: sessions, validate: validate.New(), throttle: throttle, revoked: revoked}
	return routes(a, log, service.MongoCheck(db), service.BusCheck(conn)), stop, nil
}
