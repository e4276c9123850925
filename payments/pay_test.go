package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

// answerPayments plays the orders service: for each payment:created it
// publishes outcome(orderID), as orders decides the order's fate.
func answerPayments(t *testing.T, e env, outcome func(orderID string) events.Event) {
	t.Helper()
	got := testkit.Capture[events.PaymentCreated](t, e.bus)
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		for seen := 0; ; {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			all := got.All()
			for ; seen < len(all); seen++ {
				switch ev := outcome(all[seen].OrderID).(type) {
				case events.OrderComplete:
					testkit.Publish(t, e.bus, ev)
				case events.OrderCancelled:
					testkit.Publish(t, e.bus, ev)
				}
			}
		}
	}()
}

func TestAPaymentAnswers201OnceOrdersCompletesTheOrder(t *testing.T) {
	e := newEnvWith(t, newStripeRecorder(t), 10*time.Second)
	answerPayments(t, e, func(id string) events.Event {
		return events.OrderComplete{ID: id, Version: 1, Status: events.StatusComplete}
	})
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	start := time.Now()
	r := pay(t, e, id, "tok_visa", user(t, "owner"))
	require.Equal(t, 201, r.Status, r.Raw)
	assert.Less(t, time.Since(start), 5*time.Second, "answered on the order's completion, not at the wait's end")
	require.Eventually(t, func() bool { o, _ := replica(e, id); return o.Status == events.StatusComplete }, 5*time.Second, 10*time.Millisecond)
	assert.Empty(t, e.stripe.refunds())
}

func TestAPaymentForAnOrderCancelledWhilePayingIsRefundedOnceAndAnswers400(t *testing.T) {
	e := newEnvWith(t, newStripeRecorder(t), 10*time.Second)
	// The cancel (or the expiry) reached orders before the payment did.
	answerPayments(t, e, func(id string) events.Event {
		return events.OrderCancelled{ID: id, Version: 1}
	})
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	r := pay(t, e, id, "tok_visa", user(t, "owner"))
	assert.Equal(t, 400, r.Status, r.Raw)
	assert.Contains(t, r.Raw, "refunded")

	// The handler and the order:cancelled listener both see it: one
	// refund all the same (one idempotency key, one recorded refund),
	// once the listener is done with the event (acked: no redelivery comes).
	e.waitHandled(t, events.SubjectOrderCancelled, events.OutcomeAcked, 1)
	stored := storedPayments(t, e, id)
	require.Len(t, stored, 1)
	assert.Equal(t, paymentRefunded, stored[0].Status)
	assert.True(t, strings.HasPrefix(stored[0].RefundID, "re_"), stored[0].RefundID)
	keys := map[string]bool{}
	for _, r := range e.stripe.refunds() {
		keys[r.IdempotencyKey] = true
		assert.Equal(t, stored[0].StripeID, r.Form.Get("charge"))
	}
	assert.Equal(t, map[string]bool{"refund-" + stored[0].ID.Hex(): true}, keys, "every refund request names the same refund")
	assert.Len(t, e.stripe.refunds(), 1, "one process at a time asks Stripe (refund claim), and the other finds it refunded")
	assert.Len(t, e.stripe.charges(), 1)
}

func TestAPaymentThatStoodIsRefundedWhenItsOrderTurnsOutCancelled(t *testing.T) {
	e := newEnv(t) // orders answers too late: the payment stands (201)
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	require.Equal(t, 201, pay(t, e, id, "tok_visa", user(t, "owner")).Status)
	assert.Empty(t, e.stripe.refunds())

	testkit.Publish(t, e.bus, events.OrderCancelled{ID: id, Version: 1})
	require.Eventually(t, func() bool {
		s := storedPayments(t, e, id)
		return len(s) == 1 && s[0].Status == paymentRefunded
	}, 5*time.Second, 20*time.Millisecond)
	assert.Len(t, e.stripe.refunds(), 1)
}
