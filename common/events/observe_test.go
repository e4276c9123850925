package events_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

// outcomes records what an observer was told.
type outcomes struct {
	mu  sync.Mutex
	got []events.Handled
	ch  chan events.Handled
}

func (o *outcomes) EventHandled(h events.Handled) {
	o.mu.Lock()
	o.got = append(o.got, h)
	o.mu.Unlock()
	o.ch <- h
}

func TestObserverHearsEachDeliverysOutcomeAndLogsNameTheEvent(t *testing.T) {
	t.Parallel()
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		t.Parallel()
		conn := newBus(t).Connect(t)
		var logs bytes.Buffer
		var mu sync.Mutex
		log := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, nil))
		obs := &outcomes{ch: make(chan events.Handled, 10)}
		tries := 0
		_, err := events.Listen(context.Background(), conn, events.ListenerOptions{
			QueueGroup: "g", AckWait: ackWait, Logger: log, Observer: obs,
		}, func(context.Context, events.TicketCreated) error {
			if tries++; tries == 1 {
				return errors.New("not yet")
			}
			return nil
		})
		require.NoError(t, err)
		e := ticket("t1")
		e.Version = 3
		testkit.Publish(t, conn, e)

		var got []events.Handled
		for range 2 {
			select {
			case h := <-obs.ch:
				got = append(got, h)
			case <-time.After(5 * time.Second):
				t.Fatal("observer not told")
			}
		}
		assert.Equal(t, events.OutcomeRetried, got[0].Outcome)
		assert.False(t, got[0].Redelivered)
		assert.Equal(t, events.OutcomeAcked, got[1].Outcome)
		assert.True(t, got[1].Redelivered)
		for _, h := range got {
			assert.Equal(t, events.SubjectTicketCreated, h.Subject)
			assert.Equal(t, "g", h.QueueGroup)
		}
		for _, h := range got {
			assert.Positive(t, h.Lag, "time on the bus is measured")
		}

		mu.Lock()
		defer mu.Unlock()
		assert.Contains(t, logs.String(), `"event":"ticket:created/t1/v3"`)
	})
}

func TestEventIDNamesSubjectKeyAndVersionWherePresent(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "order:cancelled/o1/v2", events.ID(events.OrderCancelled{ID: "o1", Version: 2}))
	assert.Equal(t, "expiration:complete/o1", events.ID(events.ExpirationComplete{OrderID: "o1"}))
	assert.Equal(t, "payment:created/o1", events.ID(events.PaymentCreated{ID: "p1", OrderID: "o1"}))
}
