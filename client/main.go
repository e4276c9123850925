// Command client is the web front end: server-rendered pages (html/template
// and Bootstrap) that call the APIs server-side, behind the same ingress.
package main

import (
	"context"
	"io"

	"ticketing.dev/common/metrics"
	"ticketing.dev/common/service"
)

func main() { service.Main("client", run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := service.NewLogger(stdout, "client", cfg.LogLevel)
	f, err := newFrontend(cfg, log)
	if err != nil {
		return err
	}
	bus, err := service.ConnectBus(ctx, cfg.NATS)
	if err != nil {
		return err
	}
	defer bus.Close() // ends the live subscriptions (none is durable)
	ctx = bus.Context // the service lives as long as its bus connection
	if err := watchBus(bus.Conn, f.hub); err != nil {
		return err
	}
	// Open streams would hold up the graceful shutdown: end them first.
	go func() { <-ctx.Done(); f.hub.close() }()
	// /metrics is refused to requests through the ingress (metrics.Proxied),
	// so the catch-all route does not publish it.
	h := metrics.Instrument(metrics.NewRegistry(), routes(f, log, cfg.CookieSecure))
	err = service.ListenAndServe(ctx, log, cfg.HTTP, h)
	return service.ExitError(ctx, err)
}
