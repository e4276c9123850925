package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testkit"
	"ticketing.dev/infra/stack"
)

// heldStripe is stripe-mock behind a gate: charges wait until released,
// and every refund request is counted (stripe-mock keeps no record).
type heldStripe struct {
	URL     string
	arrived chan struct{}
	gate    chan struct{}

	mu      sync.Mutex
	refunds []string // their idempotency keys
}

func newHeldStripe(t *testing.T) *heldStripe {
	t.Helper()
	target, err := url.Parse(testkit.NewStripeMock(t))
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	h := &heldStripe{arrived: make(chan struct{}, 10), gate: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/charges":
			h.arrived <- struct{}{}
			<-h.gate
		case "/v1/refunds":
			h.mu.Lock()
			h.refunds = append(h.refunds, r.Header.Get("Idempotency-Key"))
			h.mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

func (h *heldStripe) refundKeys() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.refunds...)
}

// lateStack is a stack whose orders expire after two seconds and whose
// payments charge through stripe.
func lateStack(t *testing.T, stripe *heldStripe) *stack.Stack {
	t.Helper()
	out := &testkit.SyncBuffer{}
	cfg := testConfig(t, t.TempDir(), out, map[string]string{"EXPIRATION_WINDOW": "2s", "STRIPE_KEY": "sk_test_held"})
	cfg.ServiceEnv = map[string][]string{"payments": {"STRIPE_API_BASE=" + stripe.URL}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := startWith(ctx, t, cfg, out)
	require.NoError(t, err)
	return s
}

// latePayment lists a ticket, orders it, and starts paying with the charge
// held until the order has expired; it returns what it needs to go on.
func latePayment(t *testing.T, base string, stripe *heldStripe) (buyer *browser, ticketID, orderID string, answer chan reply) {
	t.Helper()
	seller := signedUp(t, base, "late-seller")
	buyer = signedUp(t, base, "late-buyer")
	created := seller.do("POST", "/api/tickets", map[string]any{"title": "Late show", "price": 15})
	require.Equal(t, 201, created.Status, created.Raw)
	ticketID = created.Body["id"].(string)
	var order reply
	require.Eventually(t, func() bool {
		order = buyer.do("POST", "/api/orders", map[string]any{"ticketId": ticketID})
		return order.Status == 201
	}, 15*time.Second, 20*time.Millisecond, "orders learns the ticket")
	orderID = order.Body["id"].(string)

	answer = make(chan reply, 1)
	require.Eventually(t, func() bool {
		go func() {
			answer <- buyer.do("POST", "/api/payments", map[string]any{"token": "tok_visa", "orderId": orderID})
		}()
		select {
		case <-stripe.arrived:
			return true
		case r := <-answer:
			require.Equal(t, 404, r.Status, "only 'payments has not heard of the order yet' may come back: %s", r.Raw)
			return false
		}
	}, 15*time.Second, 50*time.Millisecond, "the charge reaches Stripe")
	require.Eventually(t, func() bool {
		return buyer.do("GET", "/api/orders/"+orderID, nil).Body["status"] == "cancelled"
	}, 15*time.Second, 50*time.Millisecond, "the order expires while the charge is held")
	return buyer, ticketID, orderID, answer
}

func TestAPaymentThatLandsAfterItsOrderExpiredIsRefundedOnceAndTheTicketIsFree(t *testing.T) {
	stripe := newHeldStripe(t)
	s := lateStack(t, stripe)
	base := s.URL()
	buyer, ticketID, orderID, answer := latePayment(t, base, stripe)
	close(stripe.gate)

	r := <-answer
	assert.Equal(t, 400, r.Status, r.Raw)
	assert.Contains(t, r.Raw, "the charge was refunded")
	require.Eventually(t, func() bool {
		return buyer.do("GET", "/api/orders/"+orderID, nil).Body["refunded"] == true
	}, 10*time.Second, 50*time.Millisecond, "the order says the buyer was refunded")
	o := buyer.do("GET", "/api/orders/"+orderID, nil)
	assert.Equal(t, "cancelled", o.Body["status"])
	assert.Nil(t, buyer.do("GET", "/api/tickets/"+ticketID, nil).Body["orderId"], "the ticket is free")
	// Payments' listener held order:cancelled while the charge was under
	// way; once it acked it (it found the payment refunded, or refunded it
	// itself), no redelivery comes: one refund request in all.
	require.NoError(t, waitFor(s, "payments", `events_handled_total{subject="order:cancelled",queue_group="payments-service",outcome="acked"}`, 1))
	assert.Len(t, stripe.refundKeys(), 1, "exactly one refund request reached Stripe")
}

func TestAPaymentThatLandsAfterAnotherBuyerTookTheExpiredTicketIsRefunded(t *testing.T) {
	stripe := newHeldStripe(t)
	s := lateStack(t, stripe)
	base := s.URL()
	buyer, ticketID, orderID, answer := latePayment(t, base, stripe)

	other := signedUp(t, base, "late-other")
	var taken reply
	require.Eventually(t, func() bool {
		taken = other.do("POST", "/api/orders", map[string]any{"ticketId": ticketID})
		return taken.Status == 201
	}, 10*time.Second, 50*time.Millisecond, "another buyer takes the freed ticket: %s", taken.Raw)
	close(stripe.gate)

	r := <-answer
	assert.Equal(t, 400, r.Status, r.Raw)
	assert.Contains(t, r.Raw, "refunded")
	require.Eventually(t, func() bool {
		return buyer.do("GET", "/api/orders/"+orderID, nil).Body["refunded"] == true
	}, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, "cancelled", buyer.do("GET", "/api/orders/"+orderID, nil).Body["status"])
	assert.Equal(t, taken.Body["id"], buyer.do("GET", "/api/tickets/"+ticketID, nil).Body["orderId"], "the ticket stays the other buyer's")
	assert.Equal(t, "created", other.do("GET", "/api/orders/"+taken.Body["id"].(string), nil).Body["status"])
	assert.Len(t, stripe.refundKeys(), 1)
}
