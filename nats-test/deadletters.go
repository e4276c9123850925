package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/redis/go-redis/v9"

	"ticketing.dev/common/deadletter"
	"ticketing.dev/common/events"
	"ticketing.dev/common/service"
)

// deadLetters is a service's dead-letter store, in MongoDB or Redis.
type deadLetters interface {
	List(ctx context.Context) ([]events.DeadLetter, error)
	Replay(ctx context.Context, conn events.Bus, id string) error
}

type deadLetterFlags struct {
	mongoURI, db, redisAddr string
	replay                  string // an id, "all", or empty to list
}

// openDeadLetters opens the store the flags name, and a closer for it.
func openDeadLetters(f deadLetterFlags) (deadLetters, func(), error) {
	switch {
	case f.redisAddr != "" && f.mongoURI != "":
		return nil, nil, errors.New("give --mongo or --redis, not both")
	case f.redisAddr != "":
		c := redis.NewClient(&redis.Options{Addr: f.redisAddr})
		return deadletter.NewRedis(c), func() { c.Close() }, nil
	case f.mongoURI != "":
		db, err := service.ConnectMongo(f.mongoURI, f.db)
		if err != nil {
			return nil, nil, err
		}
		return deadletter.New(db), func() { _ = db.Client().Disconnect(context.Background()) }, nil
	}
	return nil, nil, errors.New("give --mongo URI (tickets, orders, payments) or --redis host:port (expiration)")
}

// listOrReplay prints the store's dead letters, or replays one (or all)
// of them on the bus.
func listOrReplay(ctx context.Context, b bus, f deadLetterFlags, out io.Writer) error {
	store, closeStore, err := openDeadLetters(f)
	if err != nil {
		return err
	}
	defer closeStore()
	all, err := store.List(ctx)
	if err != nil {
		return err
	}
	if f.replay == "" {
		if len(all) == 0 {
			fmt.Fprintln(out, "no dead letters")
		}
		for _, d := range all {
			fmt.Fprintf(out, "%s attempts=%d first=%s last=%s error=%q\n  %s\n", d.ID(), d.Attempts,
				d.FirstSeen.Format("2006-01-02T15:04:05Z07:00"), d.LastSeen.Format("2006-01-02T15:04:05Z07:00"), d.LastError, strings.TrimSpace(d.Data))
		}
		return nil
	}
	conn, err := b.connect(ctx, "replay")
	if err != nil {
		return err
	}
	defer conn.Close()
	ids := []string{f.replay}
	if f.replay == "all" {
		ids = ids[:0]
		for _, d := range all {
			ids = append(ids, d.ID())
		}
	}
	for _, id := range ids {
		if err := store.Replay(ctx, conn, id); err != nil {
			return err
		}
		fmt.Fprintf(out, "replayed %s\n", id)
	}
	return nil
}
