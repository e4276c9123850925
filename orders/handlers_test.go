package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/testkit"
)

func TestEveryOrderRouteRequiresAuth(t *testing.T) {
	e := newEnv(t)
	id := primitive.NewObjectID().Hex()
	for _, req := range [][2]string{{"POST", "/api/orders"}, {"GET", "/api/orders"}, {"GET", "/api/orders/" + id}, {"DELETE", "/api/orders/" + id}} {
		r := do(t, req[0], e.URL+req[1], `{}`)
		assert.Equal(t, 401, r.Status, req)
		assert.JSONEq(t, `{"errors":[{"message":"Not authorized"}]}`, r.Raw)
	}
}

func TestCreateRejectsInvalidTicketIDWith400(t *testing.T) {
	e := newEnv(t)
	for _, body := range []string{`{}`, `{"ticketId":""}`, `{"ticketId":"abc"}`, `{"ticketId":"zzzzzzzzzzzzzzzzzzzzzzzz"}`, `{"ticketId":{"$ne":null}}`, `{"ticketId":123}`, `nope`} {
		r := do(t, "POST", e.URL+"/api/orders", body, user(t, "u1"))
		assert.Equal(t, 400, r.Status, body)
	}
}

func TestCreateForUnknownTicketIs404(t *testing.T) {
	e := newEnv(t)
	r := do(t, "POST", e.URL+"/api/orders", `{"ticketId":"`+primitive.NewObjectID().Hex()+`"}`, user(t, "u1"))
	assert.Equal(t, 404, r.Status)
	assert.JSONEq(t, `{"errors":[{"message":"Not Found"}]}`, r.Raw)
}

func TestCreateReservesTheTicketAndPublishesOrderCreated(t *testing.T) {
	e := newEnv(t)
	got := testkit.Capture[events.OrderCreated](t, e.bus)
	tid := seedTicket(t, e, "concert", 20)
	before := time.Now()
	o := placeOrder(t, e, user(t, "buyer"), tid)

	assert.Equal(t, "created", o["status"])
	assert.Equal(t, "buyer", o["userId"])
	assert.Equal(t, 0.0, o["version"])
	assert.Equal(t, map[string]any{"id": tid, "title": "concert", "price": 20.0, "version": 0.0}, o["ticket"])
	exp, err := time.Parse(time.RFC3339, o["expiresAt"].(string))
	require.NoError(t, err, "expiresAt is ISO-8601")
	assert.WithinDuration(t, before.Add(window), exp, 5*time.Second)

	ev := got.Wait(t, 1, 5*time.Second)[0]
	assert.Equal(t, o["id"], ev.ID)
	assert.Equal(t, events.StatusCreated, ev.Status)
	assert.Equal(t, events.OrderTicket{ID: tid, Price: 20}, ev.Ticket)
	assert.True(t, ev.ExpiresAt.Equal(exp))
	assert.ElementsMatch(t, []string{"id", "version", "status", "userId", "expiresAt", "ticket"}, testkit.Keys(got.Raw(t, 0)))
	assert.ElementsMatch(t, []string{"id", "price"}, testkit.Keys(got.Raw(t, 0)["ticket"].(map[string]any)))
}

func TestReservedTicketCannotBeOrderedAgain(t *testing.T) {
	e := newEnv(t)
	tid := seedTicket(t, e, "concert", 20)
	placeOrder(t, e, user(t, "first"), tid)
	r := do(t, "POST", e.URL+"/api/orders", `{"ticketId":"`+tid+`"}`, user(t, "second"))
	assert.Equal(t, 400, r.Status)
	assert.JSONEq(t, `{"errors":[{"message":"Ticket is already reserved"}]}`, r.Raw)
}

func TestConcurrentOrdersForOneTicketOverTwoProcessesNeverDoubleBook(t *testing.T) {
	e := newEnv(t)
	twinURL, _ := e.process(t)
	const rounds, buyers = 20, 20
	for round := range rounds {
		tid := seedTicket(t, e, fmt.Sprintf("ticket %d", round), 10)
		statuses := make([]int, buyers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range buyers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				base := []string{e.URL, twinURL}[i%2]
				statuses[i] = do(t, "POST", base+"/api/orders", `{"ticketId":"`+tid+`"}`, user(t, fmt.Sprintf("buyer-%d", i))).Status
			}()
		}
		close(start)
		wg.Wait()
		count := map[int]int{}
		for _, s := range statuses {
			count[s]++
		}
		require.Equal(t, map[int]int{201: 1, 400: buyers - 1}, count, "round %d", round)
		oid, _ := primitive.ObjectIDFromHex(tid)
		active, err := e.store.ordersColl.CountDocuments(context.Background(), bson.M{"ticketId": oid, "status": bson.M{"$ne": "cancelled"}})
		require.NoError(t, err)
		require.Equal(t, int64(1), active, "round %d: one active order stored", round)
	}
}

func TestShowReturnsTheOrderToItsOwnerOnly(t *testing.T) {
	e := newEnv(t)
	tid := seedTicket(t, e, "concert", 20)
	o := placeOrder(t, e, user(t, "owner"), tid)
	id := o["id"].(string)

	r := do(t, "GET", e.URL+"/api/orders/"+id, "", user(t, "owner"))
	require.Equal(t, 200, r.Status)
	assert.Equal(t, o, r.Body)
	assert.Equal(t, 401, do(t, "GET", e.URL+"/api/orders/"+id, "", user(t, "intruder")).Status)
	assert.Equal(t, 404, do(t, "GET", e.URL+"/api/orders/"+primitive.NewObjectID().Hex(), "", user(t, "owner")).Status)
	assert.Equal(t, 404, do(t, "GET", e.URL+"/api/orders/not-an-id", "", user(t, "owner")).Status)
}

func TestListReturnsOnlyTheCallersOrdersOldestFirst(t *testing.T) {
	e := newEnv(t)
	a, b := user(t, "alice"), user(t, "bob")
	first := placeOrder(t, e, a, seedTicket(t, e, "one", 1))
	placeOrder(t, e, b, seedTicket(t, e, "bobs", 2))
	second := placeOrder(t, e, a, seedTicket(t, e, "two", 3))

	r := do(t, "GET", e.URL+"/api/orders", "", a)
	require.Equal(t, 200, r.Status)
	require.Len(t, r.List, 2)
	assert.Equal(t, first["id"], r.List[0]["id"])
	assert.Equal(t, second["id"], r.List[1]["id"])
	assert.Equal(t, "two", r.List[1]["ticket"].(map[string]any)["title"])
	assert.Equal(t, "[]\n", do(t, "GET", e.URL+"/api/orders", "", user(t, "nobody")).Raw)
}

func TestDeleteCancelsTheOrderAndPublishesOrderCancelled(t *testing.T) {
	e := newEnv(t)
	got := testkit.Capture[events.OrderCancelled](t, e.bus)
	tid := seedTicket(t, e, "concert", 20)
	owner := user(t, "owner")
	id := placeOrder(t, e, owner, tid)["id"].(string)

	assert.Equal(t, 404, do(t, "DELETE", e.URL+"/api/orders/"+primitive.NewObjectID().Hex(), "", owner).Status)
	assert.Equal(t, 401, do(t, "DELETE", e.URL+"/api/orders/"+id, "").Status)
	assert.Equal(t, 401, do(t, "DELETE", e.URL+"/api/orders/"+id, "", user(t, "intruder")).Status)

	r := do(t, "DELETE", e.URL+"/api/orders/"+id, "", owner)
	require.Equal(t, 204, r.Status, r.Raw)
	show := do(t, "GET", e.URL+"/api/orders/"+id, "", owner)
	assert.Equal(t, "cancelled", show.Body["status"])
	assert.Equal(t, "buyer", show.Body["cancelReason"])
	assert.NotEmpty(t, show.Body["cancelledAt"])
	assert.Equal(t, 1.0, show.Body["version"])

	ev := got.Wait(t, 1, 5*time.Second)[0]
	assert.Equal(t, events.OrderCancelled{ID: id, Version: 1, Ticket: events.OrderCancelledTicket{ID: tid}}, ev)
	assert.ElementsMatch(t, []string{"id", "version", "ticket"}, testkit.Keys(got.Raw(t, 0)))

	// Cancelling again changes nothing and publishes nothing. The answer
	// comes after the change is committed, and a change publishes its
	// event before it writes and returns (outbox: publish, then write), so
	// once the 204 is in any second event is on the bus.
	assert.Equal(t, 204, do(t, "DELETE", e.URL+"/api/orders/"+id, "", owner).Status)
	got.Exactly(t, 1)
}

func TestCancelledOrderFreesTheTicketForANewOrder(t *testing.T) {
	e := newEnv(t)
	tid := seedTicket(t, e, "concert", 20)
	id := placeOrder(t, e, user(t, "first"), tid)["id"].(string)
	require.Equal(t, 204, do(t, "DELETE", e.URL+"/api/orders/"+id, "", user(t, "first")).Status)
	placeOrder(t, e, user(t, "second"), tid)
}

func TestACompleteOrderCannotBeCancelled(t *testing.T) {
	e := newEnv(t)
	owner := user(t, "owner")
	id := placeOrder(t, e, owner, seedTicket(t, e, "concert", 20))["id"].(string)
	testkit.Publish(t, e.bus, events.PaymentCreated{ID: "p1", OrderID: id, StripeID: "ch_1"})
	require.Eventually(t, func() bool {
		return do(t, "GET", e.URL+"/api/orders/"+id, "", owner).Body["status"] == "complete"
	}, 5*time.Second, 20*time.Millisecond)

	r := do(t, "DELETE", e.URL+"/api/orders/"+id, "", owner)
	assert.Equal(t, 400, r.Status)
	assert.JSONEq(t, `{"errors":[{"message":"Cannot cancel a complete order"}]}`, r.Raw)
	assert.Equal(t, "complete", do(t, "GET", e.URL+"/api/orders/"+id, "", owner).Body["status"])
}

func TestAReservationLeftByACrashHoldsItsTicketAndIsRolledForwardIntoItsOrder(t *testing.T) {
	e := newEnv(t)
	created := testkit.Capture[events.OrderCreated](t, e.bus)
	tid := seedTicket(t, e, "concert", 20)
	// Another buyer's request claimed slot 0 and died before publishing
	// and writing its order.
	orderID := leftover(t, e, tid, "u0", outbox.Grace+time.Second)
	assert.Equal(t, 400, do(t, "POST", e.URL+"/api/orders", `{"ticketId":"`+tid+`"}`, user(t, "u1")).Status,
		"the slot holds its order's state: the order will be written")

	// The sweep rolls it forward: the order exists and is announced.
	ev := created.Wait(t, 1, 20*time.Second)[0]
	assert.Equal(t, orderID.Hex(), ev.ID)
	require.Eventually(t, func() bool {
		return do(t, "GET", e.URL+"/api/orders/"+orderID.Hex(), "", user(t, "u0")).Status == 200
	}, 5*time.Second, 20*time.Millisecond)
}

func TestReservationsKeptTheOldWayAreMovedIntoSlotsAndStillHoldTheirTickets(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	held, orphaned := seedTicket(t, e, "held", 20), seedTicket(t, e, "orphaned", 20)
	// Before slots claimed orders: a reservation whose order is active,
	// and one whose order was never written (a crash between the two).
	heldID, _ := primitive.ObjectIDFromHex(held)
	orphanedID, _ := primitive.ObjectIDFromHex(orphaned)
	o := placeOrder(t, e, user(t, "u0"), seedTicket(t, e, "other", 20))
	oid, _ := primitive.ObjectIDFromHex(o["id"].(string))
	legacy := e.db.Collection(legacyReservations)
	_, err := legacy.InsertMany(ctx, []any{
		legacyReservation{Key: held + "/0", TicketID: heldID, Slot: 0, OrderID: oid, CreatedAt: time.Now()},
		legacyReservation{Key: orphaned + "/0", TicketID: orphanedID, Slot: 0, OrderID: primitive.NewObjectID(), CreatedAt: time.Now()},
	})
	require.NoError(t, err)

	url, _ := e.process(t) // a process started after the upgrade moves them
	assert.Equal(t, 400, do(t, "POST", url+"/api/orders", `{"ticketId":"`+held+`"}`, user(t, "u1")).Status, "its order holds it")
	assert.Equal(t, 201, do(t, "POST", url+"/api/orders", `{"ticketId":"`+orphaned+`"}`, user(t, "u1")).Status, "no order: the slot is over")
	n, err := legacy.CountDocuments(ctx, bson.D{})
	require.NoError(t, err)
	assert.Zero(t, n, "moved")
}

func TestAReservationWhoseOrderIsClaimedButNotYetWrittenStillHoldsTheTicket(t *testing.T) {
	e := newEnv(t)
	tid := seedTicket(t, e, "concert", 20)
	// Its order's version 0 is claimed under the slot; the document is not
	// written yet (a writer that stalled, or died, right after the claim).
	leftover(t, e, tid, "u0", 0)
	assert.Equal(t, 400, do(t, "POST", e.URL+"/api/orders", `{"ticketId":"`+tid+`"}`, user(t, "u1")).Status)
}

func TestASellerCannotBuyTheirOwnTicket(t *testing.T) {
	e := newEnv(t)
	id := primitive.NewObjectID()
	require.NoError(t, e.store.ApplyTicket(context.Background(), ticket{ID: id, Title: "concert", Price: 20, UserID: "seller"}))
	r := do(t, "POST", e.URL+"/api/orders", `{"ticketId":"`+id.Hex()+`"}`, user(t, "seller"))
	assert.Equal(t, 400, r.Status)
	assert.JSONEq(t, `{"errors":[{"message":"You cannot buy your own ticket"}]}`, r.Raw)
	r = do(t, "POST", e.URL+"/api/orders", `{"ticketId":"`+id.Hex()+`"}`, user(t, "buyer"))
	assert.Equal(t, 201, r.Status, r.Raw)
}
