package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnpaidOrderExpiresAndReleasesItsTicketWhilePaidOneStaysComplete(t *testing.T) {
	const window = 3 * time.Second
	s, _ := startStack(t, t.TempDir(), map[string]string{"EXPIRATION_WINDOW": window.String()})
	seller := signedUp(t, s.URL(), "seller")
	buyer := signedUp(t, s.URL(), "buyer")
	anyone := newBrowser(t, s.URL())

	unpaidTicket, unpaid := reserve(t, seller, buyer, "Unpaid", 10)
	paidTicket, paid := reserve(t, seller, buyer, "Paid", 12)
	var r reply
	eventually(t, "payments has the order", func() bool {
		r = buyer.do("POST", "/api/payments", map[string]any{"token": "tok_visa", "orderId": paid})
		return r.Status != 404
	})
	require.Equal(t, 201, r.Status, r.Raw)

	require.Eventually(t, func() bool {
		return buyer.do("GET", "/api/orders/"+unpaid, nil).Body["status"] == "cancelled"
	}, window+10*time.Second, 100*time.Millisecond, "the unpaid order is cancelled when its window ends")
	eventually(t, "its ticket is released in the tickets service", func() bool {
		_, reserved := anyone.do("GET", "/api/tickets/"+unpaidTicket, nil).Body["orderId"]
		return !reserved
	})

	// Both windows are over: orders has handled both expiries (the paid
	// order's changes nothing).
	require.NoError(t, waitFor(s, "orders", `events_handled_total{subject="expiration:complete",queue_group="orders-service",outcome="acked"}`, 2))
	assert.Equal(t, "complete", buyer.do("GET", "/api/orders/"+paid, nil).Body["status"])
	assert.Equal(t, paid, anyone.do("GET", "/api/tickets/"+paidTicket, nil).Body["orderId"])
}
