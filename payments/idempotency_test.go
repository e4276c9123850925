package main

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/idempotency"
	"ticketing.dev/common/testkit"
)

func TestPaymentWithOneIdempotencyKeyChargesOnceAndReplaysTheFirstAnswer(t *testing.T) {
	e := newEnvWith(t, newStripeRecorder(t), 100*time.Millisecond)
	twin, _ := e.process(t)
	u := user(t, "u1")
	orderID := seedOrder(t, e, "u1", 20, events.StatusCreated)
	b, _ := json.Marshal(map[string]string{"orderId": orderID, "token": "tok_visa"})
	key := http.Header{idempotency.Header: {"pay-1"}}

	first := testkit.DoWith(t, key, "POST", e.URL+"/api/payments", string(b), u)
	require.Equal(t, 201, first.Status, first.Raw)
	var wg sync.WaitGroup
	for i := range 6 {
		url := []string{e.URL, twin}[i%2]
		wg.Go(func() {
			r := testkit.DoWith(t, key, "POST", url+"/api/payments", string(b), u)
			assert.Equal(t, 201, r.Status, "replayed, not \"already paid\": %s", r.Raw)
			assert.Equal(t, first.Raw, r.Raw)
		})
	}
	wg.Wait()
	assert.Len(t, e.stripe.charges(), 1, "one charge reached Stripe")

	b2, _ := json.Marshal(map[string]string{"orderId": orderID, "token": "tok_mastercard"})
	assert.Equal(t, 422, testkit.DoWith(t, key, "POST", e.URL+"/api/payments", string(b2), u).Status)
	without := pay(t, e, orderID, "tok_visa", u)
	assert.Equal(t, 400, without.Status, "without the key it is a new request: already paid")
}
