package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/deadletter"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

func TestDeadlettersListsParkedEventsAndReplaysThemOnTheBus(t *testing.T) {
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		s := newBus(t)
		r := testkit.NewRedis(t)
		c := redis.NewClient(&redis.Options{Addr: r.Addr()})
		defer c.Close()
		d := events.DeadLetter{Subject: "order:created", QueueGroup: "expiration-service", Sequence: 9,
			Data:      `{"id":"bbbbbbbbbbbbbbbbbbbbbbbb","version":0,"status":"created","userId":"u","expiresAt":"2026-01-01T00:00:00Z","ticket":{"id":"cccccccccccccccccccccccc","price":5}}`,
			LastError: "redis down", Attempts: 50, FirstSeen: time.Now().Add(-time.Minute).UTC(), LastSeen: time.Now().UTC()}
		require.NoError(t, deadletter.NewRedis(c).Park(context.Background(), d))

		var out bytes.Buffer
		require.NoError(t, run(context.Background(), []string{"deadletters", "--bus", s.Kind, "--url", s.URL, "--redis", r.Addr()}, noEnv, &out))
		assert.Contains(t, out.String(), "expiration-service/order:created/9 attempts=50")
		assert.Contains(t, out.String(), `error="redis down"`)

		got := testkit.Capture[events.OrderCreated](t, s.Connect(t))
		out.Reset()
		require.NoError(t, run(context.Background(), []string{"deadletters", "--bus", s.Kind, "--url", s.URL, "--redis", r.Addr(), "--replay", "all"}, noEnv, &out))
		assert.Equal(t, "replayed expiration-service/order:created/9\n", out.String())
		assert.Equal(t, "bbbbbbbbbbbbbbbbbbbbbbbb", got.Wait(t, 1, 10*time.Second)[0].ID)

		out.Reset()
		require.NoError(t, run(context.Background(), []string{"deadletters", "--bus", s.Kind, "--url", s.URL, "--redis", r.Addr()}, noEnv, &out))
		assert.Equal(t, "no dead letters\n", out.String())
	})
}

func TestDeadlettersNeedsExactlyOneStore(t *testing.T) {
	err := run(context.Background(), []string{"deadletters"}, noEnv, &bytes.Buffer{})
	assert.ErrorContains(t, err, "give --mongo URI")
	err = run(context.Background(), []string{"deadletters", "--mongo", "mongodb://127.0.0.1:1/x", "--redis", "127.0.0.1:1"}, noEnv, &bytes.Buffer{})
	assert.ErrorContains(t, err, "not both")
}
