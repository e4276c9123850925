package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

func replicated(t *testing.T, e env, id string) (ticket, bool) {
	t.Helper()
	oid, _ := primitive.ObjectIDFromHex(id)
	tk, err := e.store.Ticket(context.Background(), oid)
	if err != nil {
		return ticket{}, false
	}
	return tk, true
}

func TestTicketCreatedIsReplicated(t *testing.T) {
	e := newEnv(t)
	id := primitive.NewObjectID().Hex()
	testkit.Publish(t, e.bus, events.TicketCreated{ID: id, Version: 0, Title: "concert", Price: 20, UserID: "u"})
	require.Eventually(t, func() bool { _, ok := replicated(t, e, id); return ok }, 5*time.Second, 20*time.Millisecond)
	tk, _ := replicated(t, e, id)
	assert.Equal(t, ticket{ID: tk.ID, Title: "concert", Price: 20, Version: 0, UserID: "u"}, tk, "with the seller, who cannot buy it")
}

func TestTicketUpdatedIsAppliedAtTheNextVersionOnly(t *testing.T) {
	e := newEnv(t)
	id := primitive.NewObjectID().Hex()
	testkit.Publish(t, e.bus, events.TicketCreated{ID: id, Version: 0, Title: "concert", Price: 20, UserID: "u"})
	testkit.Publish(t, e.bus, events.TicketUpdated{ID: id, Version: 1, Title: "new", Price: 30, UserID: "u"})
	require.Eventually(t, func() bool { tk, _ := replicated(t, e, id); return tk.Version == 1 }, 5*time.Second, 20*time.Millisecond)
	tk, _ := replicated(t, e, id)
	assert.Equal(t, "new", tk.Title)
	assert.Equal(t, 30.0, tk.Price)

	// A replay of version 1 is acked and changes nothing.
	testkit.Publish(t, e.bus, events.TicketUpdated{ID: id, Version: 1, Title: "replayed", Price: 1, UserID: "u"})
	e.waitHandled(t, events.SubjectTicketUpdated, events.OutcomeAcked, 2) // version 1, then its replay
	tk, _ = replicated(t, e, id)
	assert.Equal(t, "new", tk.Title)
}

func TestOutOfOrderTicketUpdatesEndAppliedInOrder(t *testing.T) {
	e := newEnv(t)
	id := primitive.NewObjectID().Hex()
	testkit.Publish(t, e.bus, events.TicketCreated{ID: id, Version: 0, Title: "v0", Price: 10, UserID: "u"})
	require.Eventually(t, func() bool { _, ok := replicated(t, e, id); return ok }, 5*time.Second, 20*time.Millisecond)

	testkit.Publish(t, e.bus, events.TicketUpdated{ID: id, Version: 2, Title: "v2", Price: 12, UserID: "u"})
	e.waitHandled(t, events.SubjectTicketUpdated, events.OutcomeRetried, 1)
	tk, _ := replicated(t, e, id)
	assert.Equal(t, int64(0), tk.Version, "a future version waits (not acked)")

	testkit.Publish(t, e.bus, events.TicketUpdated{ID: id, Version: 1, Title: "v1", Price: 11, UserID: "u"})
	require.Eventually(t, func() bool { tk, _ := replicated(t, e, id); return tk.Version == 2 }, 5*ackWait, 50*time.Millisecond,
		"v2 is redelivered after v1 is applied")
	tk, _ = replicated(t, e, id)
	assert.Equal(t, "v2", tk.Title)
	assert.Equal(t, 12.0, tk.Price)
}

// orderShown is the order as the API shows it once it is at version: a
// version's event goes out the moment before its document is written.
func orderShown(t *testing.T, e env, id string, owner *http.Cookie, version float64) response {
	t.Helper()
	var r response
	require.Eventually(t, func() bool {
		r = do(t, "GET", e.URL+"/api/orders/"+id, "", owner)
		return r.Body["version"] == version
	}, 5*time.Second, 5*time.Millisecond, "order %s at version %v", id, version)
	return r
}

func TestExpirationCancelsTheOrderAndPublishesOrderCancelled(t *testing.T) {
	e := newEnv(t)
	got := testkit.Capture[events.OrderCancelled](t, e.bus)
	tid := seedTicket(t, e, "concert", 20)
	owner := user(t, "owner")
	id := placeOrder(t, e, owner, tid)["id"].(string)

	testkit.Publish(t, e.bus, events.ExpirationComplete{OrderID: id})
	ev := got.Wait(t, 1, 5*time.Second)[0]
	assert.Equal(t, events.OrderCancelled{ID: id, Version: 1, Ticket: events.OrderCancelledTicket{ID: tid}}, ev)
	show := orderShown(t, e, id, owner, 1)
	assert.Equal(t, "cancelled", show.Body["status"])
	assert.Equal(t, "expired", show.Body["cancelReason"])
	// Acked, applied once. The listener publishes a change's event before
	// it returns (outbox: publish, then write the document), so once the
	// delivery is acked any second event would be on the bus.
	e.waitHandled(t, events.SubjectExpirationComplete, events.OutcomeAcked, 1)
	got.Exactly(t, 1)

	placeOrder(t, e, user(t, "next"), tid) // the ticket is free again
}

func TestExpirationOfACompleteOrderLeavesItComplete(t *testing.T) {
	e := newEnv(t)
	cancelled := testkit.Capture[events.OrderCancelled](t, e.bus)
	completed := testkit.Capture[events.OrderComplete](t, e.bus)
	tid := seedTicket(t, e, "concert", 20)
	owner := user(t, "owner")
	id := placeOrder(t, e, owner, tid)["id"].(string)

	testkit.Publish(t, e.bus, events.PaymentCreated{ID: "p1", OrderID: id, StripeID: "ch_1"})
	ev := completed.Wait(t, 1, 5*time.Second)[0]
	assert.Equal(t, events.OrderComplete{ID: id, Version: 1, Status: events.StatusComplete, Ticket: events.OrderTicket{ID: tid, Price: 20}}, ev)
	assert.ElementsMatch(t, []string{"id", "version", "status", "ticket"}, testkit.Keys(completed.Raw(t, 0)))

	testkit.Publish(t, e.bus, events.ExpirationComplete{OrderID: id})
	// Acked without a change: a cancel would have been published before
	// the ack (outbox: publish, then write, then return to the listener).
	e.waitHandled(t, events.SubjectExpirationComplete, events.OutcomeAcked, 1)
	cancelled.Exactly(t, 0)
	o := do(t, "GET", e.URL+"/api/orders/"+id, "", owner)
	assert.Equal(t, "complete", o.Body["status"])
	assert.Equal(t, 1.0, o.Body["version"])
	assert.Equal(t, 400, do(t, "POST", e.URL+"/api/orders", `{"ticketId":"`+tid+`"}`, user(t, "next")).Status, "a sold ticket stays reserved")
}

func TestPaymentForUnknownOrderIsNotAcked(t *testing.T) {
	e := newEnv(t)
	completed := testkit.Capture[events.OrderComplete](t, e.bus)
	tid := seedTicket(t, e, "concert", 20)
	oid := primitive.NewObjectID()
	testkit.Publish(t, e.bus, events.PaymentCreated{ID: "p1", OrderID: oid.Hex(), StripeID: "ch_1"})
	e.waitHandled(t, events.SubjectPaymentCreated, events.OutcomeRetried, 1) // handed back, for a redelivery
	assert.Zero(t, e.metrics.Handled(events.SubjectPaymentCreated, events.OutcomeAcked))
	completed.Exactly(t, 0)

	// The order appears (as if its write was late); redelivery completes it.
	tk, _ := replicated(t, e, tid)
	o, err := e.store.Reserve(context.Background(), tk, "owner", window)
	require.NoError(t, err)
	testkit.Publish(t, e.bus, events.PaymentCreated{ID: "p2", OrderID: o.ID.Hex(), StripeID: "ch_2"})
	assert.Equal(t, o.ID.Hex(), completed.Wait(t, 1, 5*time.Second)[0].ID)
	// The first payment's order never appears; it keeps being redelivered,
	// never acked, and never completes anything: its redelivery is handed
	// back again, and only p2 was acked.
	e.waitHandled(t, events.SubjectPaymentCreated, events.OutcomeRetried, 2)
	e.waitHandled(t, events.SubjectPaymentCreated, events.OutcomeAcked, 1)
	assert.Equal(t, 1, e.metrics.Handled(events.SubjectPaymentCreated, events.OutcomeAcked))
	completed.Exactly(t, 1)
}

func TestPaymentForAnOrderThatExpiredMeanwhileLeavesItCancelledAndTheTicketFree(t *testing.T) {
	e := newEnv(t)
	completed := testkit.Capture[events.OrderComplete](t, e.bus)
	tid := seedTicket(t, e, "concert", 20)
	owner := user(t, "owner")
	id := placeOrder(t, e, owner, tid)["id"].(string)
	testkit.Publish(t, e.bus, events.ExpirationComplete{OrderID: id})
	require.Eventually(t, func() bool {
		return do(t, "GET", e.URL+"/api/orders/"+id, "", owner).Body["status"] == "cancelled"
	}, 5*time.Second, 20*time.Millisecond)

	// The expiry won; payments refunds the late charge when it sees the
	// order cancelled.
	testkit.Publish(t, e.bus, events.PaymentCreated{ID: "p1", OrderID: id, StripeID: "ch_1"})
	// Acked without a change: a completion would have been published
	// before the ack (outbox: publish, then write, then return).
	e.waitHandled(t, events.SubjectPaymentCreated, events.OutcomeAcked, 1)
	completed.Exactly(t, 0)
	o := do(t, "GET", e.URL+"/api/orders/"+id, "", owner)
	assert.Equal(t, "cancelled", o.Body["status"])
	assert.Equal(t, 1.0, o.Body["version"])
	placeOrder(t, e, user(t, "next"), tid)
}
