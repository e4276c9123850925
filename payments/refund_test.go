package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

// holdCharges makes Stripe hold every charge until the returned release is
// called; arrived receives one value per charge that reached it.
func holdCharges(e env) (arrived chan struct{}, release func()) {
	arrived, gate := make(chan struct{}, 10), make(chan struct{})
	e.stripe.answerPath("/v1/charges", func(http.ResponseWriter) bool {
		arrived <- struct{}{}
		<-gate
		return false // then on to Stripe
	})
	return arrived, func() { close(gate) }
}

func TestAChargeThatLandsAfterItsOrderExpiredIsRefundedExactlyOnce(t *testing.T) {
	e := newEnvWith(t, newStripeRecorder(t), 10*time.Second)
	refunded := testkit.Capture[events.PaymentRefunded](t, e.bus)
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	arrived, release := holdCharges(e)

	answer := make(chan response, 1)
	go func() { answer <- pay(t, e, id, "tok_visa", user(t, "owner")) }()
	<-arrived
	// The order expires while Stripe holds the charge; payments' listener
	// sees it with the charge still pending and keeps the event.
	testkit.Publish(t, e.bus, events.OrderCancelled{ID: id, Version: 1})
	require.Eventually(t, func() bool { o, _ := replica(e, id); return o.Status == events.StatusCancelled }, 5*time.Second, 10*time.Millisecond)
	// The held event is redelivered meanwhile: the first delivery and a
	// redelivery were both handed back.
	e.waitHandled(t, events.SubjectOrderCancelled, events.OutcomeRetried, 2)
	release()

	r := <-answer
	assert.Equal(t, 400, r.Status)
	assert.Contains(t, r.Raw, "the charge was refunded")
	// A redelivery of order:cancelled finds it refunded, and is acked: none
	// comes after it.
	e.waitHandled(t, events.SubjectOrderCancelled, events.OutcomeAcked, 1)
	require.Len(t, e.stripe.charges(), 1)
	refunds := e.stripe.refunds()
	require.Len(t, refunds, 1, "exactly one refund request reached Stripe")
	stored := storedPayments(t, e, id)
	require.Len(t, stored, 1)
	assert.Equal(t, paymentRefunded, stored[0].Status)
	assert.Equal(t, "refund-"+stored[0].ID.Hex(), refunds[0].IdempotencyKey)
	evs := refunded.Wait(t, 1, 5*time.Second)
	assert.Equal(t, events.PaymentRefunded{ID: stored[0].ID.Hex(), OrderID: id, StripeID: stored[0].StripeID, RefundID: stored[0].RefundID}, evs[0])
	// Refunded once: the two that could refund (the payment request and
	// the order:cancelled listener) are both done, the request answered
	// and the event acked, and each publishes payment:refunded before it
	// records the refund and returns (outbox: publish, then write).
	refunded.Exactly(t, 1)
}

func TestARefundStripeRefusesIsRetriedUntilItGoesThrough(t *testing.T) {
	e := newEnvWith(t, newStripeRecorder(t), 10*time.Second)
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	e.stripe.answerPath("/v1/refunds", func(w http.ResponseWriter) bool {
		http.Error(w, `{"error":{"message":"try later","type":"api_error"}}`, http.StatusServiceUnavailable)
		return true
	})
	answerPayments(t, e, func(id string) events.Event { return events.OrderCancelled{ID: id, Version: 1} })

	r := pay(t, e, id, "tok_visa", user(t, "owner"))
	assert.Equal(t, 400, r.Status)
	assert.Contains(t, r.Raw, "the charge is being refunded")
	assert.Contains(t, []string{paymentSucceeded, paymentRefunding}, storedPayments(t, e, id)[0].Status, "not refunded yet")

	e.stripe.answerPath("/v1/refunds", nil) // Stripe is back
	require.Eventually(t, func() bool {
		s := storedPayments(t, e, id)
		return len(s) == 1 && s[0].Status == paymentRefunded
	}, 15*time.Second, 50*time.Millisecond, "the order:cancelled listener retried the refund")
}
