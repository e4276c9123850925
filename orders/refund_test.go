package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

func TestARefundedLatePaymentShowsOnTheCancelledOrder(t *testing.T) {
	e := newEnv(t)
	buyer := user(t, "buyer")
	o := placeOrder(t, e, buyer, seedTicket(t, e, "concert", 20))
	id := o["id"].(string)
	require.Equal(t, 204, do(t, "DELETE", e.URL+"/api/orders/"+id, "", buyer).Status)
	shown := do(t, "GET", e.URL+"/api/orders/"+id, "", buyer)
	assert.NotContains(t, shown.Body, "refunded", "no refund, no field")

	ev := events.PaymentRefunded{ID: "p1", OrderID: id, StripeID: "ch_1", RefundID: "re_1"}
	testkit.Publish(t, e.bus, ev)
	testkit.Publish(t, e.bus, ev) // redelivered or replayed: one record
	require.Eventually(t, func() bool {
		return do(t, "GET", e.URL+"/api/orders/"+id, "", buyer).Body["refunded"] == true
	}, 10*time.Second, 20*time.Millisecond)
	shown = do(t, "GET", e.URL+"/api/orders/"+id, "", buyer)
	assert.Equal(t, "cancelled", shown.Body["status"])
	at, err := time.Parse(time.RFC3339Nano, shown.Body["refundedAt"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), at, 10*time.Second)

	list := do(t, "GET", e.URL+"/api/orders", "", buyer).List
	require.Len(t, list, 1)
	assert.Equal(t, true, list[0]["refunded"])
}
