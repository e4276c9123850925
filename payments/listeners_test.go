package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

func replica(e env, id string) (order, bool) {
	oid, _ := primitive.ObjectIDFromHex(id)
	o, err := e.store.Order(context.Background(), oid)
	return o, err == nil
}

func created(id string, price float64) events.OrderCreated {
	return events.OrderCreated{ID: id, Version: 0, Status: events.StatusCreated, UserID: "owner",
		ExpiresAt: time.Now().Add(time.Minute), Ticket: events.OrderTicket{ID: primitive.NewObjectID().Hex(), Price: price}}
}

func TestOrderCreatedIsReplicatedWithItsPrice(t *testing.T) {
	e := newEnv(t)
	id := primitive.NewObjectID().Hex()
	testkit.Publish(t, e.bus, created(id, 42.5))
	require.Eventually(t, func() bool { _, ok := replica(e, id); return ok }, 5*time.Second, 20*time.Millisecond)
	o, _ := replica(e, id)
	assert.Equal(t, "owner", o.UserID)
	assert.Equal(t, 42.5, o.Price)
	assert.Equal(t, events.StatusCreated, o.Status)
	assert.Equal(t, int64(0), o.Version)
}

func TestOrderCancelledIsAppliedAndBlocksPayment(t *testing.T) {
	e := newEnv(t)
	id := primitive.NewObjectID().Hex()
	testkit.Publish(t, e.bus, created(id, 10))
	testkit.Publish(t, e.bus, events.OrderCancelled{ID: id, Version: 1})
	require.Eventually(t, func() bool { o, _ := replica(e, id); return o.Status == events.StatusCancelled }, 5*time.Second, 20*time.Millisecond)
	assert.Equal(t, 400, pay(t, e, id, "tok_visa", user(t, "owner")).Status)
}

func TestOrderCompleteIsAppliedOnlyAtTheNextVersion(t *testing.T) {
	e := newEnv(t)
	id := primitive.NewObjectID().Hex()
	testkit.Publish(t, e.bus, created(id, 10))
	require.Eventually(t, func() bool { _, ok := replica(e, id); return ok }, 5*time.Second, 20*time.Millisecond)

	testkit.Publish(t, e.bus, events.OrderComplete{ID: id, Version: 2, Status: events.StatusComplete})
	e.waitHandled(t, events.SubjectOrderComplete, events.OutcomeRetried, 1)
	o, _ := replica(e, id)
	assert.Equal(t, events.StatusCreated, o.Status, "version 2 waits for version 1 (not acked)")

	testkit.Publish(t, e.bus, events.OrderCancelled{ID: id, Version: 1})
	require.Eventually(t, func() bool { o, _ := replica(e, id); return o.Version == 2 }, 5*ackWait, 50*time.Millisecond)
	o, _ = replica(e, id)
	assert.Equal(t, events.StatusComplete, o.Status)

	// A replay of an applied version is acked without effect.
	testkit.Publish(t, e.bus, events.OrderCancelled{ID: id, Version: 1})
	e.waitHandled(t, events.SubjectOrderCancelled, events.OutcomeAcked, 2) // version 1, then its replay
	o, _ = replica(e, id)
	assert.Equal(t, events.StatusComplete, o.Status)
}
