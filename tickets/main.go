// Command tickets is the tickets service: the catalogue, ownership, the
// reservation lock and their events (docs/CONTRACT.md §2 Tickets, §3).
package main

import (
	"context"
	"io"

	"ticketing.dev/common/service"
	"ticketing.dev/common/service/backend"
	"ticketing.dev/common/validate"
)

func main() { service.Main("tickets", run) }

// build is tickets' own part of the backend: the ticket store and its
// catalogue (following every process's ticket events, then loaded), the
// listeners to order events and the routes.
func build(ctx context.Context, b *backend.Base, _ config) (backend.Parts, error) {
	st, err := newStore(ctx, b.DB, b.Outbox)
	if err != nil {
		return backend.Parts{}, err
	}
	stopFollowing, err := st.follow(b.Conn)
	if err != nil {
		return backend.Parts{}, err
	}
	b.Go(func() {
		<-ctx.Done()
		stopFollowing()
	})
	if err := st.load(ctx); err != nil {
		return backend.Parts{}, err
	}
	l := &listeners{store: st}
	a := &api{store: st, keys: b.IdempotencyKeys(ctx), sessions: b.Sessions, validate: validate.New()}
	return backend.Parts{Routes: routes(a, b.Log, b.Ready()...), QueueGroup: queueGroup, Subscribe: l.subscribe}, nil
}

// run serves the tickets API and listens to order events until ctx is done
// or the bus connection is lost.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	return backend.Run(ctx, "tickets", getenv, stdout, loadConfig, build)
}
