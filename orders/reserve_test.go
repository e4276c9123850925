package main

import (
	"context"
	"encoding/json"
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

func TestABuyerAtMaxOpenOrdersIsToldToPayOrCancelOneFirst(t *testing.T) {
	e := newEnv(t)
	e.maxOpen = 2
	url, _ := e.process(t)
	buyer := user(t, "hoarder")
	var first string
	for i := range 2 {
		r := do(t, "POST", url+"/api/orders", `{"ticketId":"`+seedTicket(t, e, "concert", 20)+`"}`, buyer)
		require.Equal(t, 201, r.Status, r.Raw)
		if i == 0 {
			first = r.Body["id"].(string)
		}
	}
	third := seedTicket(t, e, "concert", 20)
	r := do(t, "POST", url+"/api/orders", `{"ticketId":"`+third+`"}`, buyer)
	assert.Equal(t, 400, r.Status)
	assert.JSONEq(t, `{"errors":[{"message":"You have 2 unpaid orders, the most allowed at once: pay for or cancel one of them to reserve another ticket"}]}`, r.Raw)

	assert.Equal(t, 201, do(t, "POST", url+"/api/orders", `{"ticketId":"`+third+`"}`, user(t, "someone-else")).Status,
		"the cap is per buyer")
	fourth := seedTicket(t, e, "concert", 20)
	require.Equal(t, 204, do(t, "DELETE", url+"/api/orders/"+first, "", buyer).Status)
	assert.Equal(t, 201, do(t, "POST", url+"/api/orders", `{"ticketId":"`+fourth+`"}`, buyer).Status, "cancelling one frees a place")
}

func TestMaxOpenOrdersZeroMeansNoCap(t *testing.T) {
	e := newEnv(t) // maxOpen 0
	buyer := user(t, "collector")
	for range 7 {
		placeOrder(t, e, buyer, seedTicket(t, e, "concert", 20))
	}
}

func TestMaxOpenOrdersIsReadFromTheEnvironmentWithDefaultFive(t *testing.T) {
	env := map[string]string{"MONGO_URI": "mongodb://x/orders", "JWT_KEY": "k", "NATS_URL": "nats://x", "NATS_CLUSTER_ID": "c", "NATS_CLIENT_ID": "i"}
	get := func(k string) string { return env[k] }
	cfg, err := loadConfig(get)
	require.NoError(t, err)
	assert.Equal(t, 5, cfg.MaxOpenOrders)
	env["MAX_OPEN_ORDERS"] = "0"
	cfg, err = loadConfig(get)
	require.NoError(t, err)
	assert.Equal(t, 0, cfg.MaxOpenOrders)
	env["MAX_OPEN_ORDERS"] = "-1"
	_, err = loadConfig(get)
	assert.ErrorContains(t, err, "MAX_OPEN_ORDERS")
}

// leftover stores what a request whose slot and order were inserted apart
// (the insert split by a server crash) leaves, age ago: the slot's claim,
// holding the order's state and event, and no order.
func leftover(t *testing.T, e env, ticketID, userID string, age time.Duration) primitive.ObjectID {
	t.Helper()
	tid, _ := primitive.ObjectIDFromHex(ticketID)
	o := order{ID: primitive.NewObjectID(), UserID: userID, Status: events.StatusCreated, ExpiresAt: time.Now().Add(window).UTC().Truncate(time.Millisecond),
		TicketID: tid, Price: 20}
	state, err := bson.Marshal(o)
	require.NoError(t, err)
	data, err := json.Marshal(o.createdEvent())
	require.NoError(t, err)
	_, err = e.db.Collection("orders").InsertOne(context.Background(), outbox.Record{Key: slotKey(tid, 0), Aggregate: "order/" + o.ID.Hex(),
		State: state, Subject: events.SubjectOrderCreated, Data: data, Pending: true, At: time.Now().Add(-age)})
	require.NoError(t, err)
	return o.ID
}

func TestACrashedRequestsReservationGivesItsOwnBuyerTheOrderOnRetry(t *testing.T) {
	e := newEnv(t)
	created := testkit.Capture[events.OrderCreated](t, e.bus)
	ticketID := seedTicket(t, e, "concert", 20)
	orderID := leftover(t, e, ticketID, "buyer", time.Second)

	other := do(t, "POST", e.URL+"/api/orders", `{"ticketId":"`+ticketID+`"}`, user(t, "someone-else"))
	assert.Equal(t, 400, other.Status, "for anyone else the ticket stays held while its order may still be written")

	r := do(t, "POST", e.URL+"/api/orders", `{"ticketId":"`+ticketID+`"}`, user(t, "buyer"))
	require.Equal(t, 201, r.Status, r.Raw)
	assert.Equal(t, orderID.Hex(), r.Body["id"], "the order its crashed request left behind, finished")
	assert.Equal(t, "created", r.Body["status"])
	evs := created.Wait(t, 1, 10*time.Second)
	assert.Equal(t, orderID.Hex(), evs[0].ID)

	again := do(t, "POST", e.URL+"/api/orders", `{"ticketId":"`+ticketID+`"}`, user(t, "someone-else"))
	assert.Equal(t, 400, again.Status, "the ticket is now held by that order")
}
