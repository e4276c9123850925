// Package backend is the skeleton the backend services (auth, tickets,
// orders, payments) share: configuration, logger, metrics, one MongoDB
// database, the bus, the outbox log and its relay, sessions that learn of
// revocations, listeners that park what keeps failing, and the HTTP server.
// A service's main adds only its own part (Build): its store, its
// listeners, its routes.
//
// It is a package of its own, not part of package service, because it
// builds on packages (outbox) whose tests build on package service.
package backend

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/deadletter"
	"ticketing.dev/common/events"
	"ticketing.dev/common/idempotency"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
)

// SweepInterval is how often the relay checks whether the records its
// process published are due to be marked (outbox.Log.Run; it lists what a
// failed publish or a crashed process left every few seconds).
const SweepInterval = time.Second

// Config is what every backend reads from its environment; a service's
// config embeds it and adds its own.
type Config struct {
	HTTP         service.HTTP
	NATS         service.NATS
	MongoURI     string
	JWTKey       string
	CookieSecure bool
	SessionTTL   time.Duration
	LogLevel     string
}

// LoadConfig reads, into e's problems: HOST, PORT and the rest of
// service.Env.HTTP, MONGO_URI and JWT_KEY (required), NATS_* and the rest
// of service.Env.NATS, COOKIE_SECURE (default true), SESSION_TTL (default
// session.DefaultTTL) and LOG_LEVEL (service.Env.LogLevel).
func LoadConfig(e *service.Env) Config {
	return Config{
		HTTP:         e.HTTP(),
		MongoURI:     e.Required("MONGO_URI"),
		JWTKey:       e.Required("JWT_KEY"),
		NATS:         e.NATS(),
		CookieSecure: e.Bool("COOKIE_SECURE", true),
		SessionTTL:   e.Duration("SESSION_TTL", session.DefaultTTL),
		LogLevel:     e.LogLevel(),
	}
}

// Configured is a service's configuration: one that embeds Config (the
// method is unexported, so embedding is the only way to have it).
type Configured interface{ backend() Config }

func (c Config) backend() Config { return c }

// Base is what a service's own part is built on.
type Base struct {
	DB   *mongo.Database
	Conn events.Bus
	Log  *slog.Logger
	// Metrics registers the service's instruments (nil in tests: kept
	// nowhere).
	Metrics prometheus.Registerer
	// Outbox claims the service's versions; its relay publishes their
	// events until the service stops.
	Outbox *outbox.Log
	// Sessions checks the session cookie, refusing revoked sessions.
	Sessions *session.Manager

	wg sync.WaitGroup // Go's functions
}

// Ready is the readiness checks of every backend: its database and the bus.
func (b *Base) Ready() []service.Check {
	return []service.Check{service.MongoCheck(b.DB), service.BusCheck(b.Conn)}
}

// Go runs f in the background; the service's stop waits for it to return,
// so f must return once Build's context is done.
func (b *Base) Go(f func()) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		f()
	}()
}

// pruneKeysEvery is how often expired idempotency keys are deleted: a
// scan on FerretDB, and a key lives a day anyway.
const pruneKeysEvery = time.Hour

// IdempotencyKeys is the service's Idempotency-Key store, pruned of keys
// past their replay window until ctx (Build's) is done.
func (b *Base) IdempotencyKeys(ctx context.Context) *idempotency.Store {
	keys := idempotency.New(b.DB)
	b.Every(ctx, pruneKeysEvery, "pruning idempotency keys", func(ctx context.Context) error {
		_, err := keys.Prune(ctx)
		return err
	})
	// Stop waits for a key release still being retried (bounded by
	// idempotency.Stale).
	b.Go(func() {
		<-ctx.Done()
		keys.Wait()
	})
	return keys
}

// Every runs f every interval in the background until ctx is done (stop
// waits for it); a failure is logged as what failed, and f runs again at
// the next tick.
func (b *Base) Every(ctx context.Context, interval time.Duration, what string, f func(context.Context) error) {
	b.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := f(ctx); err != nil && ctx.Err() == nil {
					b.Log.Warn(what+" failed; retrying next period", "err", err)
				}
			}
		}
	})
}

// Parts is a service's own part, as its Build makes it.
type Parts struct {
	// Routes is the service's API.
	Routes http.Handler
	// QueueGroup is the durable queue group of the service's listeners.
	QueueGroup string
	// Subscribe, when set, starts the service's listeners with opts: the
	// listener options of docs/CONTRACT.md §3 for QueueGroup, parking what fails
	// NATS.MaxDeliveries times in the database's dead letters, measured.
	Subscribe func(ctx context.Context, bus events.Bus, opts events.ListenerOptions) error
}

// Build makes a service's own part on b (for its configuration cfg): its
// store, its listeners and its routes. ctx is done when the service stops.
type Build[C Configured] func(ctx context.Context, b *Base, cfg C) (Parts, error)

// Wire builds the service on db and conn, as Run does (tests call it on
// their own database and bus), measured on reg (nil in tests): the outbox
// log, the sessions, build's part and its listeners, then the outbox
// relay. stop ends what it started in the background (the relay, the
// listeners' handlers, Go's functions) and returns once they have.
func Wire[C Configured](ctx context.Context, db *mongo.Database, conn events.Bus, log *slog.Logger, cfg C, reg prometheus.Registerer, build Build[C]) (h http.Handler, stop func(), err error) {
	c := cfg.backend()
	olog := outbox.NewLog(db, conn, log)
	olog.Observe(metrics.NewOutbox(reg))
	sessions, err := service.Sessions(conn, c.JWTKey, c.CookieSecure, c.SessionTTL)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	b := &Base{DB: db, Conn: conn, Log: log, Metrics: reg, Outbox: olog, Sessions: sessions}
	parts, err := build(ctx, b, cfg)
	if err == nil {
		// After build, which registers the service's kinds of aggregate.
		err = olog.EnsureIndexes(ctx)
	}
	if err == nil && parts.Subscribe != nil {
		opts := c.NATS.Listener(parts.QueueGroup, log, deadletter.New(db))
		opts.Observer = metrics.NewEvents(reg)
		opts.Running = &b.wg // stop waits for the handlers under way
		err = parts.Subscribe(ctx, conn, opts)
	}
	if err != nil {
		cancel()
		b.wg.Wait()
		return nil, nil, err
	}
	stopRelay := olog.Start(ctx, SweepInterval)
	return parts.Routes, func() {
		cancel()
		stopRelay()
		b.wg.Wait()
	}, nil
}

// Run runs a backend service as its process does: its configuration
// (load, from getenv), its log on stdout, its metrics, database and bus,
// and build's part served until ctx is done or the bus connection is lost
// for good (an error, so that the process exits non-zero and is
// restarted). Everything it started has stopped when it returns.
func Run[C Configured](ctx context.Context, name string, getenv func(string) string, stdout io.Writer,
	load func(getenv func(string) string) (C, error), build Build[C]) error {
	cfg, err := load(getenv)
	if err != nil {
		return err
	}
	c := cfg.backend()
	log := service.NewLogger(stdout, name, c.LogLevel)

	reg := metrics.NewRegistry()
	db, err := service.ConnectMongo(c.MongoURI, name, metrics.Mongo(reg))
	if err != nil {
		return err
	}
	defer db.Client().Disconnect(context.WithoutCancel(ctx))

	bus, err := service.ConnectBus(ctx, c.NATS)
	if err != nil {
		return err
	}
	defer bus.Close()

	h, stop, err := Wire(bus.Context, db, bus.Conn, log, cfg, reg, build)
	if err != nil {
		return err
	}
	defer stop()
	err = service.ListenAndServe(bus.Context, log, c.HTTP, metrics.Instrument(reg, h))
	return service.ExitError(bus.Context, err)
}
