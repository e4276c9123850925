// Command auth is the users service: sign up, sign in, sign out and the
// current user (DESIGN §2 Auth). main only wires; run is testable.
package main

import (
	"context"
	"io"

	"ticketing.dev/common/metrics"
	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
	"ticketing.dev/common/validate"
)

func main() { service.Main("auth", run) }

// run serves the auth API until ctx is done.
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

	users, err := newUserStore(ctx, db)
	if err != nil {
		return err
	}
	api := &api{
		users:    users,
		sessions: session.NewManager(cfg.JWTKey, cfg.CookieSecure),
		validate: validate.New(),
	}
	return service.ServeHTTP(ctx, log, cfg.HTTP, metrics.Instrument(reg, routes(api, log, service.MongoCheck(db))))
}
