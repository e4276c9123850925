package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/infra/stack"
)

// reserve lists a ticket as seller and orders it as buyer, once orders has
// the ticket's replica; it returns the ticket and order ids.
func reserve(t *testing.T, seller, buyer *browser, title string, price any) (ticketID, orderID string) {
	t.Helper()
	created := seller.do("POST", "/api/tickets", map[string]any{"title": title, "price": price})
	require.Equal(t, 201, created.Status, created.Raw)
	ticketID = created.Body["id"].(string)
	var order reply
	eventually(t, "orders has the ticket", func() bool {
		order = buyer.do("POST", "/api/orders", map[string]any{"ticketId": ticketID})
		return order.Status == 201
	})
	return ticketID, order.Body["id"].(string)
}

// payFor pays the order with the test card, retrying while payments has
// not learnt of it yet (404), and expects 201 {success:true}.
func payFor(t *testing.T, buyer *browser, oid string) {
	t.Helper()
	var paid reply
	eventually(t, "payments has the order", func() bool {
		paid = buyer.do("POST", "/api/payments", map[string]any{"token": "tok_visa", "orderId": oid})
		return paid.Status != 404
	})
	require.Equal(t, 201, paid.Status, paid.Raw)
	assert.Equal(t, true, paid.Body["success"])
}

func TestPurchaseJourneyPaysAndCompletesTheOrder(t *testing.T) {
	t.Run("stan", func(t *testing.T) { purchaseJourney(t, sharedStack(t)) })
	t.Run("jetstream", func(t *testing.T) { purchaseJourney(t, jetStreamStack(t)) })
}

func purchaseJourney(t *testing.T, s *stack.Stack) {
	seller := signedUp(t, s.URL(), "seller")
	buyer := signedUp(t, s.URL(), "buyer")
	tid, oid := reserve(t, seller, buyer, "Opera", "20.10")

	payFor(t, buyer, oid)

	eventually(t, "the order becomes complete in orders", func() bool {
		return buyer.do("GET", "/api/orders/"+oid, nil).Body["status"] == "complete"
	})
	again := buyer.do("POST", "/api/payments", map[string]any{"token": "tok_visa", "orderId": oid})
	assert.Equal(t, 400, again.Status, "paid once only")
	assert.Equal(t, 400, buyer.do("DELETE", "/api/orders/"+oid, nil).Status, "a complete order cannot be cancelled")
	assert.Equal(t, oid, newBrowser(t, s.URL()).do("GET", "/api/tickets/"+tid, nil).Body["orderId"], "the sold ticket stays reserved")

	other := signedUp(t, s.URL(), "other")
	assert.Equal(t, 401, other.do("POST", "/api/payments", map[string]any{"token": "tok_visa", "orderId": oid}).Status)
}
