// Command expiration ends unpaid orders: on order:created it schedules a
// delayed job in Redis (asynq) that publishes expiration:complete at the
// order's expiresAt. Jobs live in Redis, so they survive restarts.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/hibiken/asynq"
	goredis "github.com/redis/go-redis/v9"

	"ticketing.dev/common/deadletter"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/service"
)

func main() { service.Main("expiration", run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := service.NewLogger(stdout, "expiration", cfg.LogLevel)
	redis := asynq.RedisClientOpt{Addr: cfg.RedisAddr()}
	reg := metrics.NewRegistry()

	bus, err := service.ConnectBus(ctx, cfg.NATS)
	if err != nil {
		return err
	}
	defer bus.Close()
	ctx = bus.Context // the service lives as long as its bus connection

	client := asynq.NewClient(redis)
	defer client.Close()
	worker, err := startWorker(redis, newExpirer(bus.Conn, log, metrics.NewExpiration(reg)), log)
	if err != nil {
		return err
	}
	// Shutdown lets a running task finish before the bus is closed.
	defer worker.Shutdown()

	// Dead letters go to Redis, expiration's only store.
	rc := goredis.NewClient(&goredis.Options{Addr: cfg.RedisAddr()})
	defer rc.Close()
	l := &listeners{jobs: &scheduler{client: client}}
	listen := cfg.NATS.Listener(queueGroup, log, deadletter.NewRedis(rc))
	listen.Observer = metrics.NewEvents(reg)
	// Handlers under way finish before the clients they use are closed.
	var handlers sync.WaitGroup
	listen.Running = &handlers
	lctx, stopListening := context.WithCancel(ctx)
	defer handlers.Wait()
	defer stopListening()
	if err := l.subscribe(lctx, bus.Conn, listen); err != nil {
		return err
	}

	redisCheck := service.Check{Name: "redis", Check: func(context.Context) error { return client.Ping() }}
	err = service.ListenAndServe(ctx, log, cfg.HTTP, metrics.Instrument(reg, routes(log, redisCheck, service.BusCheck(bus.Conn))))
	return service.ExitError(ctx, err)
}

// startWorker runs the asynq server that fires due expiry tasks.
func startWorker(redis asynq.RedisConnOpt, h asynq.Handler, log *slog.Logger) (*asynq.Server, error) {
	worker := asynq.NewServer(redis, asynq.Config{
		Concurrency:              4,
		DelayedTaskCheckInterval: checkInterval,
		TaskCheckInterval:        checkInterval,
		RetryDelayFunc:           retryDelay,
		Logger:                   slogAdapter{log.With("component", "asynq")},
		LogLevel:                 asynq.WarnLevel,
	})
	mux := asynq.NewServeMux()
	mux.Handle(taskExpireOrder, h)
	if err := worker.Start(mux); err != nil {
		return nil, fmt.Errorf("starting job worker: %w", err)
	}
	return worker, nil
}
