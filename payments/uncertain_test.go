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

// requireOneChargeRequest asserts every charge request that reached Stripe
// was the same request: key and token.
func requireOneChargeRequest(t *testing.T, e env, key, token string) {
	t.Helper()
	charges := e.stripe.charges()
	require.NotEmpty(t, charges)
	for _, c := range charges {
		assert.Equal(t, key, c.IdempotencyKey)
		assert.Equal(t, token, c.Form.Get("source"))
	}
}

func TestAChargeWhoseAnswerWasLostIsRepeatedAndRefundedWhenItsOrderIsCancelled(t *testing.T) {
	e := newEnv(t)
	refunded := testkit.Capture[events.PaymentRefunded](t, e.bus)
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	e.stripe.loseAnswers("/v1/charges", true)
	r := pay(t, e, id, "tok_visa", user(t, "owner"))
	require.Equal(t, 502, r.Status, r.Raw)
	assert.Empty(t, storedPayments(t, e, id), "nothing is recorded as paid")
	require.Equal(t, paymentUncertain, latestAttempt(t, e, id).Status, "the charge may have been made")

	// The order expires before the buyer retries: Stripe may hold their money.
	e.stripe.loseAnswers("/v1/charges", false)
	testkit.Publish(t, e.bus, events.OrderCancelled{ID: id, Version: 1})

	require.Eventually(t, func() bool {
		s := storedPayments(t, e, id)
		return len(s) == 1 && s[0].Status == paymentRefunded
	}, 10*time.Second, 20*time.Millisecond, "the repeated charge is recorded and refunded")
	requireOneChargeRequest(t, e, "order-"+id+"-attempt-0", "tok_visa")
	require.Len(t, e.stripe.refunds(), 1)
	refunded.Wait(t, 1, 5*time.Second)
	assert.Nil(t, storedPayments(t, e, id)[0].Intent, "the settled charge's token is not kept past the charge")
	// The listener acked the event (no redelivery comes) with one refund made.
	e.waitHandled(t, events.SubjectOrderCancelled, events.OutcomeAcked, 1)
	require.Len(t, e.stripe.refunds(), 1)
}

func TestARetryAfterALostAnswerRepeatsTheFirstChargeInsteadOfMakingAnother(t *testing.T) {
	e := newEnvWith(t, newStripeRecorder(t), 10*time.Second)
	answerPayments(t, e, func(id string) events.Event {
		return events.OrderComplete{ID: id, Version: 1, Status: events.StatusComplete}
	})
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	e.stripe.loseAnswers("/v1/charges", true)
	require.Equal(t, 502, pay(t, e, id, "tok_visa", user(t, "owner")).Status)
	e.stripe.loseAnswers("/v1/charges", false)

	// The buyer retries with another card: the first request may have
	// charged, so it is repeated as it was; Stripe answers with its charge.
	r := pay(t, e, id, "tok_mastercard", user(t, "owner"))
	require.Equal(t, 201, r.Status, r.Raw)
	requireOneChargeRequest(t, e, "order-"+id+"-attempt-0", "tok_visa")
	assert.Len(t, slots(t, e, id), 1, "the repeat learnt the outcome of the one attempt")
	stored := storedPayments(t, e, id)
	require.Len(t, stored, 1)
	assert.Equal(t, paymentSucceeded, stored[0].Status)
	assert.Empty(t, e.stripe.refunds())
}

func TestAChargeLeftByACrashMidChargeIsSettledWhenItsOrderIsCancelled(t *testing.T) {
	e := newEnv(t)
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	// A process died while Stripe was charging: its attempt is stale and
	// holds the charge it was making.
	key := "order-" + id + "-attempt-0"
	seedAttempt(t, e, id, 0, paymentPending, time.Now().Add(-longStale), &chargeIntent{Key: key, Cents: 2000, Token: "tok_visa"})

	testkit.Publish(t, e.bus, events.OrderCancelled{ID: id, Version: 1})
	require.Eventually(t, func() bool {
		s := storedPayments(t, e, id)
		return len(s) == 1 && s[0].Status == paymentRefunded
	}, 10*time.Second, 20*time.Millisecond)
	requireOneChargeRequest(t, e, key, "tok_visa")
	assert.Equal(t, "2000", e.stripe.charges()[0].Form.Get("amount"))
	require.Len(t, e.stripe.refunds(), 1)
}

func TestALostAnswerThatWasADeclineChargesAndRefundsNothingWhenItsOrderIsCancelled(t *testing.T) {
	e := newEnv(t)
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	e.stripe.loseAnswers("/v1/charges", true)
	require.Equal(t, 502, pay(t, e, id, "tok_visa", user(t, "owner")).Status)
	e.stripe.loseAnswers("/v1/charges", false)
	// Stripe's answer to the repeat: the first request was declined.
	e.stripe.answerPath("/v1/charges", func(w http.ResponseWriter) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusPaymentRequired)
		_, _ = w.Write([]byte(`{"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}`))
		return true
	})

	testkit.Publish(t, e.bus, events.OrderCancelled{ID: id, Version: 1})
	require.Eventually(t, func() bool { a := latestAttempt(t, e, id); return a.Status == paymentClosed && a.N == 1 },
		10*time.Second, 20*time.Millisecond, "the repeat learnt it was declined, and no later attempt may charge")
	assert.Equal(t, paymentDeclined, slots(t, e, id)[0].Status)
	// The listener acked the event (no redelivery comes), having charged
	// nothing more.
	e.waitHandled(t, events.SubjectOrderCancelled, events.OutcomeAcked, 1)
	assert.Empty(t, storedPayments(t, e, id))
	assert.Empty(t, e.stripe.refunds())
	requireOneChargeRequest(t, e, "order-"+id+"-attempt-0", "tok_visa")
}

func TestAKeyConflictAtStripeIsAnUnknownOutcomeNotADecline(t *testing.T) {
	e := newEnv(t)
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	// 409: a request with this key is still running at Stripe.
	e.stripe.answerPath("/v1/charges", func(w http.ResponseWriter) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte(`{"error":{"type":"idempotency_error","message":"There is currently another in-progress request using this Idempotent Key."}}`))
		return true
	})
	r := pay(t, e, id, "tok_visa", user(t, "owner"))
	assert.Equal(t, 502, r.Status, r.Raw)
	a := latestAttempt(t, e, id)
	assert.EqualValues(t, 0, a.N, "the key is not given up: that request may charge")
	require.Equal(t, paymentUncertain, a.Status)
	assert.Equal(t, "order-"+id+"-attempt-0", a.Intent.Key)
}

func TestACrashedChargeWhoseRepeatIsLostTooIsSettledOnALaterDelivery(t *testing.T) {
	e := newEnv(t)
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	key := "order-" + id + "-attempt-0"
	seedAttempt(t, e, id, 0, paymentPending, time.Now().Add(-longStale), &chargeIntent{Key: key, Cents: 2000, Token: "tok_visa"})
	e.stripe.loseAnswers("/v1/charges", true)

	testkit.Publish(t, e.bus, events.OrderCancelled{ID: id, Version: 1})
	require.Eventually(t, func() bool {
		return len(e.stripe.charges()) > 0 && latestAttempt(t, e, id).Status == paymentUncertain && len(storedPayments(t, e, id)) == 0
	}, 10*time.Second, 20*time.Millisecond, "the listener's repeat was lost as well: the attempt holds the charge")

	e.stripe.loseAnswers("/v1/charges", false)
	require.Eventually(t, func() bool {
		s := storedPayments(t, e, id)
		return len(s) == 1 && s[0].Status == paymentRefunded
	}, 15*time.Second, 20*time.Millisecond, "a redelivery repeats it again and refunds it")
	requireOneChargeRequest(t, e, key, "tok_visa")
	require.Len(t, e.stripe.refunds(), 1)
	assert.Nil(t, latestAttempt(t, e, id).Intent, "the settled charge's token is cleared")
}
