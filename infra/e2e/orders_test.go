package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eventually polls until cond holds, as a user refreshing a page would.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 15*time.Second, 50*time.Millisecond, what)
}

func TestOrdersJourneyReservesCancelsAndReordersThroughTheIngress(t *testing.T) {
	s := sharedStack(t)
	seller := signedUp(t, s.URL(), "seller")
	buyer := signedUp(t, s.URL(), "buyer")
	anyone := newBrowser(t, s.URL())

	created := seller.do("POST", "/api/tickets", map[string]any{"title": "Match", "price": 40})
	require.Equal(t, 201, created.Status, created.Raw)
	tid := created.Body["id"].(string)

	var order reply
	eventually(t, "the order is accepted once orders has the ticket", func() bool {
		order = buyer.do("POST", "/api/orders", map[string]any{"ticketId": tid})
		return order.Status == 201
	})
	oid := order.Body["id"].(string)
	assert.Equal(t, "created", order.Body["status"])
	assert.Equal(t, "Match", order.Body["ticket"].(map[string]any)["title"])

	eventually(t, "the tickets service shows the ticket reserved", func() bool {
		return anyone.do("GET", "/api/tickets/"+tid, nil).Body["orderId"] == oid
	})
	edit := seller.do("PUT", "/api/tickets/"+tid, map[string]any{"title": "Match", "price": 50})
	assert.Equal(t, 400, edit.Status, "a reserved ticket cannot be edited")

	second := signedUp(t, s.URL(), "second")
	assert.Equal(t, 400, second.do("POST", "/api/orders", map[string]any{"ticketId": tid}).Status)

	require.Equal(t, 204, buyer.do("DELETE", "/api/orders/"+oid, nil).Status)
	assert.Equal(t, "cancelled", buyer.do("GET", "/api/orders/"+oid, nil).Body["status"])
	eventually(t, "the ticket is released in the tickets service", func() bool {
		_, reserved := anyone.do("GET", "/api/tickets/"+tid, nil).Body["orderId"]
		return !reserved
	})

	again := second.do("POST", "/api/orders", map[string]any{"ticketId": tid})
	require.Equal(t, 201, again.Status, again.Raw)
	mine := second.do("GET", "/api/orders", nil)
	require.Len(t, mine.List, 1)
	assert.Equal(t, again.Body["id"], mine.List[0]["id"])
	assert.Equal(t, 401, buyer.do("GET", "/api/orders/"+again.Body["id"].(string), nil).Status)
}
