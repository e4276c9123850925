package main

import (
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/idempotency"
	"ticketing.dev/common/testkit"
)

func withKey(k string) http.Header { return http.Header{idempotency.Header: {k}} }

func TestOrderWithOneIdempotencyKeyIsOneOrderNotAlreadyReservedOnRetry(t *testing.T) {
	e := newEnv(t)
	twin, _ := e.process(t)
	u := user(t, "u1")
	ticketID := seedTicket(t, e, "concert", 20)
	body := `{"ticketId":"` + ticketID + `"}`

	first := testkit.DoWith(t, withKey("k1"), "POST", e.URL+"/api/orders", body, u)
	require.Equal(t, 201, first.Status, first.Raw)
	var wg sync.WaitGroup
	for i := range 10 {
		url := []string{e.URL, twin}[i%2]
		wg.Go(func() {
			r := testkit.DoWith(t, withKey("k1"), "POST", url+"/api/orders", body, u)
			assert.Equal(t, 201, r.Status, "a retry gets the order, not \"already reserved\": %s", r.Raw)
			assert.Equal(t, first.Body["id"], r.Body["id"])
		})
	}
	wg.Wait()

	other := seedTicket(t, e, "gig", 10)
	changed := testkit.DoWith(t, withKey("k1"), "POST", e.URL+"/api/orders", `{"ticketId":"`+other+`"}`, u)
	assert.Equal(t, 422, changed.Status)
	someoneElse := testkit.DoWith(t, withKey("k1"), "POST", e.URL+"/api/orders", body, user(t, "u2"))
	assert.Equal(t, 400, someoneElse.Status, "another user's key is another request")
	assert.Contains(t, someoneElse.Raw, "Ticket is already reserved")

	assert.Len(t, do(t, "GET", e.URL+"/api/orders", "", u).List, 1)
}
