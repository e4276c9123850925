package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

func orderCreated(orderID, ticketID string) events.OrderCreated {
	return events.OrderCreated{ID: orderID, Version: 0, Status: events.StatusCreated, UserID: "buyer",
		ExpiresAt: time.Now().Add(15 * time.Minute), Ticket: events.OrderTicket{ID: ticketID, Price: 20}}
}

func orderCancelled(orderID, ticketID string) events.OrderCancelled {
	return events.OrderCancelled{ID: orderID, Version: 1, Ticket: events.OrderCancelledTicket{ID: ticketID}}
}

// shown is the ticket as the API shows it once it is at version: a
// version's event goes out the moment before its document is written.
func shown(t *testing.T, e env, id string, version float64) response {
	t.Helper()
	var r response
	require.Eventually(t, func() bool {
		r = do(t, "GET", e.URL+"/api/tickets/"+id, "")
		return r.Body["version"] == version
	}, 5*time.Second, 5*time.Millisecond, "ticket %s at version %v", id, version)
	return r
}

func TestOrderCreatedReservesTheTicketAndPublishesTicketUpdated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := create(t, e, user(t, "owner"), "concert", 20)["id"].(string)
	got := testkit.Capture[events.TicketUpdated](t, e.bus)
	orderID := primitive.NewObjectID().Hex()

	testkit.Publish(t, e.bus, orderCreated(orderID, id))

	ev := got.Wait(t, 1, 5*time.Second)[0]
	assert.Equal(t, events.TicketUpdated{ID: id, Version: 1, Title: "concert", Price: 20, UserID: "owner", OrderID: orderID}, ev)
	show := shown(t, e, id, 1) // the event goes out the moment before the document is written
	assert.Equal(t, orderID, show.Body["orderId"])
	assert.Equal(t, 1.0, show.Body["version"])
	// Acked: no redelivery, no second update. The listener publishes a
	// change's event before it returns (outbox: publish, then write the
	// document), so once the delivery is acked any second one is on the bus.
	e.waitHandled(t, events.SubjectOrderCreated, events.OutcomeAcked, 1)
	got.Exactly(t, 1)
}

func TestRedeliveredOrderCreatedChangesNothingFurther(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := create(t, e, user(t, "owner"), "concert", 20)["id"].(string)
	got := testkit.Capture[events.TicketUpdated](t, e.bus)
	ev := orderCreated(primitive.NewObjectID().Hex(), id)
	testkit.Publish(t, e.bus, ev)
	testkit.Publish(t, e.bus, ev) // as STAN redelivers after a lost ack
	got.Wait(t, 1, 5*time.Second)
	// Both acked; a change would have been published before its ack.
	e.waitHandled(t, events.SubjectOrderCreated, events.OutcomeAcked, 2)
	got.Exactly(t, 1)
	assert.Equal(t, 1.0, do(t, "GET", e.URL+"/api/tickets/"+id, "").Body["version"])
}

func TestOrderCancelledReleasesTheTicket(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := create(t, e, user(t, "owner"), "concert", 20)["id"].(string)
	got := testkit.Capture[events.TicketUpdated](t, e.bus)
	orderID := primitive.NewObjectID().Hex()
	testkit.Publish(t, e.bus, orderCreated(orderID, id))
	got.Wait(t, 1, 5*time.Second) // (a cancellation seen first is covered below)
	testkit.Publish(t, e.bus, orderCancelled(orderID, id))

	evs := got.Wait(t, 2, 5*time.Second)
	assert.Equal(t, orderID, evs[0].OrderID)
	assert.Equal(t, events.TicketUpdated{ID: id, Version: 2, Title: "concert", Price: 20, UserID: "owner"}, evs[1])
	assert.NotContains(t, got.Raw(t, 1), "orderId")
	show := shown(t, e, id, 2)
	assert.NotContains(t, show.Body, "orderId")
	// Both acked; a further change would have been published before its ack.
	e.waitHandled(t, events.SubjectOrderCreated, events.OutcomeAcked, 1)
	e.waitHandled(t, events.SubjectOrderCancelled, events.OutcomeAcked, 1)
	got.Exactly(t, 2)

	// The owner may edit it again.
	assert.Equal(t, 200, do(t, "PUT", e.URL+"/api/tickets/"+id, `{"title":"concert","price":25}`, user(t, "owner")).Status)
}

func TestEventForUnknownTicketIsNotAckedAndAppliesOnceTheTicketExists(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	got := testkit.Capture[events.TicketUpdated](t, e.bus)
	id := primitive.NewObjectID()
	orderID := primitive.NewObjectID().Hex()
	testkit.Publish(t, e.bus, orderCreated(orderID, id.Hex()))
	e.waitHandled(t, events.SubjectOrderCreated, events.OutcomeRetried, 1) // handed back, for a redelivery
	assert.Zero(t, e.metrics.Handled(events.SubjectOrderCreated, events.OutcomeAcked))
	got.Exactly(t, 0)

	// The ticket appears (as if its own write was late); redelivery applies the event.
	_, err := e.store.ticketsColl.InsertOne(context.Background(), bson.M{"_id": id, "title": "late", "price": 5.0, "userId": "owner", "orderId": "", "version": int64(0)})
	require.NoError(t, err)
	ev := got.Wait(t, 1, 4*ackWait)[0]
	assert.Equal(t, orderID, ev.OrderID)
}

func TestOrderCreatedArrivingAfterItsCancellationIsNotApplied(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := create(t, e, user(t, "owner"), "concert", 20)["id"].(string)
	orderID := primitive.NewObjectID().Hex()
	testkit.Publish(t, e.bus, orderCancelled(orderID, id))
	require.Eventually(t, func() bool { return do(t, "GET", e.URL+"/api/tickets/"+id, "").Body["version"] == 1.0 }, 5*time.Second, 20*time.Millisecond)
	testkit.Publish(t, e.bus, orderCreated(orderID, id))
	e.waitHandled(t, events.SubjectOrderCreated, events.OutcomeAcked, 1) // the late order:created
	assert.NotContains(t, do(t, "GET", e.URL+"/api/tickets/"+id, "").Body, "orderId", "the ticket stays free")
}

func TestATicketWrittenByAProcessKilledBeforeItsPublishIsAnnouncedByItsTwin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	got := testkit.Capture[events.TicketCreated](t, e.bus)

	// e.store is a process whose relay never runs: it committed the
	// ticket and its event, then died before publishing.
	tk, err := e.store.Create(ctx, "concert", 20, "owner")
	require.NoError(t, err)
	record := bson.M{"_id": "ticket/" + tk.ID.Hex() + "/0"} // its outbox record, kept with the ticket until marked
	n, err := e.store.ticketsColl.CountDocuments(ctx, record)
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "the record of the unpublished version")

	// The running process's sweep publishes it, once: the record is its
	// writer's for 17 s (a held publish, then its mark), and the sweep
	// runs every 5 s.
	ev := got.Wait(t, 1, 30*time.Second)[0]
	assert.Equal(t, tk.ID.Hex(), ev.ID)
	// Once the sweep has marked it published (dropped its record), no sweep
	// publishes it again, and every publish of it came before the mark.
	require.Eventually(t, func() bool {
		n, err := e.store.ticketsColl.CountDocuments(ctx, record)
		return err == nil && n == 0
	}, 20*time.Second, 50*time.Millisecond, "the sweep marks the record it published")
	got.Exactly(t, 1)
}

func TestTicketStatusGoesAvailableReservedSoldAndOrderCompleteKeepsTheOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := create(t, e, user(t, "owner"), "concert", 20)["id"].(string)
	assert.Equal(t, "available", do(t, "GET", e.URL+"/api/tickets/"+id, "").Body["status"])
	got := testkit.Capture[events.TicketUpdated](t, e.bus)
	orderID := primitive.NewObjectID().Hex()
	testkit.Publish(t, e.bus, orderCreated(orderID, id))
	got.Wait(t, 1, 5*time.Second)
	assert.Equal(t, "reserved", shown(t, e, id, 1).Body["status"])

	complete := events.OrderComplete{ID: orderID, Version: 2, Status: events.StatusComplete, Ticket: events.OrderTicket{ID: id, Price: 20}}
	testkit.Publish(t, e.bus, complete)
	testkit.Publish(t, e.bus, complete) // redelivered: applied once
	evs := got.Wait(t, 2, 5*time.Second)
	assert.Equal(t, events.TicketUpdated{ID: id, Version: 2, Title: "concert", Price: 20, UserID: "owner", OrderID: orderID, Sold: true}, evs[1])
	show := shown(t, e, id, 2)
	assert.Equal(t, "sold", show.Body["status"])
	assert.Equal(t, orderID, show.Body["orderId"], "orderId keeps its meaning: the order that holds it")
	// All acked; a further change would have been published before its ack.
	e.waitHandled(t, events.SubjectOrderCreated, events.OutcomeAcked, 1)
	e.waitHandled(t, events.SubjectOrderComplete, events.OutcomeAcked, 2)
	got.Exactly(t, 2)
	list := do(t, "GET", e.URL+"/api/tickets", "")
	assert.Equal(t, "sold", list.List[0]["status"])
}

func TestOrderCompleteBeforeItsOrderCreatedEndsWithTheTicketSold(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := create(t, e, user(t, "owner"), "concert", 20)["id"].(string)
	got := testkit.Capture[events.TicketUpdated](t, e.bus)
	orderID := primitive.NewObjectID().Hex()

	// The two subjects are separate subscriptions: complete can come first.
	testkit.Publish(t, e.bus, events.OrderComplete{ID: orderID, Version: 2, Status: events.StatusComplete, Ticket: events.OrderTicket{ID: id, Price: 20}})
	ev := got.Wait(t, 1, 5*time.Second)[0]
	assert.Equal(t, events.TicketUpdated{ID: id, Version: 1, Title: "concert", Price: 20, UserID: "owner", OrderID: orderID, Sold: true}, ev)
	show := shown(t, e, id, 1)
	assert.Equal(t, "sold", show.Body["status"])

	// The late order:created finds it applied: no second change.
	testkit.Publish(t, e.bus, orderCreated(orderID, id))
	// Acked without a change: one would have been published before the ack.
	e.waitHandled(t, events.SubjectOrderCreated, events.OutcomeAcked, 1)
	got.Exactly(t, 1)
	show = do(t, "GET", e.URL+"/api/tickets/"+id, "")
	assert.Equal(t, "sold", show.Body["status"])
	assert.Equal(t, orderID, show.Body["orderId"])
	assert.Equal(t, 1.0, show.Body["version"])
}

func TestOrderCompleteWhileAnotherOrderHoldsTheTicketWaitsForItsCancellation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := create(t, e, user(t, "owner"), "concert", 20)["id"].(string)
	got := testkit.Capture[events.TicketUpdated](t, e.bus)
	expired, paid := primitive.NewObjectID().Hex(), primitive.NewObjectID().Hex()
	testkit.Publish(t, e.bus, orderCreated(expired, id))
	got.Wait(t, 1, 5*time.Second)

	// The paid order's complete comes before the expired order's cancel.
	testkit.Publish(t, e.bus, events.OrderComplete{ID: paid, Version: 2, Status: events.StatusComplete, Ticket: events.OrderTicket{ID: id, Price: 20}})
	// Refused while the expired order holds it: handed back, unchanged
	// (a change would have been published before the listener returned).
	e.waitHandled(t, events.SubjectOrderComplete, events.OutcomeRetried, 1)
	got.Exactly(t, 1)
	testkit.Publish(t, e.bus, orderCancelled(expired, id))

	evs := got.Wait(t, 3, 4*ackWait)
	assert.Equal(t, paid, evs[2].OrderID)
	show := shown(t, e, id, 3)
	assert.Equal(t, "sold", show.Body["status"])
	assert.Equal(t, paid, show.Body["orderId"])
}
