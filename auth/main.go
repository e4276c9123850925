// Command auth is the users service: sign up, sign in, sign out and the
// current user (docs/CONTRACT.md §2 Auth). main only wires; run is testable.
package main

import (
	"context"
	"io"
	"time"

	"ticketing.dev/common/service"
	"ticketing.dev/common/service/backend"
	"ticketing.dev/common/validate"
)

func main() { service.Main("auth", run) }

// build is auth's own part of the backend: users, the sign-in throttle and
// its pruning (until ctx is done), revocations (published through the
// outbox) and the routes.
func build(ctx context.Context, b *backend.Base, cfg config) (backend.Parts, error) {
	users, err := newStore(ctx, b.DB)
	if err != nil {
		return backend.Parts{}, err
	}
	now := cfg.now
	if now == nil {
		now = time.Now
	}
	throttle, err := newThrottle(ctx, b.DB, cfg.SigninMaxFailures, cfg.SigninFailureWindow, now)
	if err != nil {
		return backend.Parts{}, err
	}
	revoked, err := newRevocations(ctx, b.DB, b.Outbox)
	if err != nil {
		return backend.Parts{}, err
	}
	// A full scan, so once per window.
	b.Every(ctx, cfg.SigninFailureWindow, "pruning sign-in attempts", throttle.prune)
	a := &api{users: users, sessions: b.Sessions, validate: validate.New(), throttle: throttle, revoked: revoked}
	return backend.Parts{Routes: routes(a, b.Log, b.Ready()...)}, nil
}

// run serves the auth API until ctx is done or the bus connection is lost.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	return backend.Run(ctx, "auth", getenv, stdout, loadConfig, build)
}
