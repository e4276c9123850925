package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// signedUp is a browser whose user has just signed up.
func signedUp(t *testing.T, base, prefix string) *browser {
	t.Helper()
	b := newBrowser(t, base)
	r := b.do("POST", "/api/users/signup", map[string]string{"email": uniqueEmail(prefix), "password": "password1"})
	require.Equal(t, 201, r.Status, r.Raw)
	return b
}

func TestTicketsJourneyThroughTheIngress(t *testing.T) {
	s := sharedStack(t)
	seller := signedUp(t, s.URL(), "seller")

	created := seller.do("POST", "/api/tickets", map[string]any{"title": "Concert", "price": "20.00"})
	require.Equal(t, 201, created.Status, created.Raw)
	id := created.Body["id"].(string)
	assert.Equal(t, 20.0, created.Body["price"])

	list := seller.do("GET", "/api/tickets", nil)
	require.Equal(t, 200, list.Status)
	found := false
	for _, tk := range list.List {
		found = found || tk["id"] == id
	}
	assert.True(t, found, "the new ticket is listed")

	show := newBrowser(t, s.URL()).do("GET", "/api/tickets/"+id, nil)
	require.Equal(t, 200, show.Status)
	assert.Equal(t, "Concert", show.Body["title"])

	updated := seller.do("PUT", "/api/tickets/"+id, map[string]any{"title": "Concert (front row)", "price": 35})
	require.Equal(t, 200, updated.Status, updated.Raw)
	assert.Equal(t, 1.0, updated.Body["version"])

	other := signedUp(t, s.URL(), "other")
	forbidden := other.do("PUT", "/api/tickets/"+id, map[string]any{"title": "Mine now", "price": 1})
	assert.Equal(t, 401, forbidden.Status)
	anonymous := newBrowser(t, s.URL()).do("POST", "/api/tickets", map[string]any{"title": "x", "price": 1})
	assert.Equal(t, 401, anonymous.Status)

	assert.Equal(t, "Concert (front row)", newBrowser(t, s.URL()).do("GET", "/api/tickets/"+id, nil).Body["title"])
}
