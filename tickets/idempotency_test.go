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

func TestCreateWithOneIdempotencyKeyListsOneTicketAcrossRetriesAndProcesses(t *testing.T) {
	e := newEnv(t)
	twin, _ := e.process(t)
	u := user(t, "u1")
	body := `{"title":"concert","price":20}`

	first := testkit.DoWith(t, withKey("k1"), "POST", e.URL+"/api/tickets", body, u)
	require.Equal(t, 201, first.Status, first.Raw)
	again := testkit.DoWith(t, withKey("k1"), "POST", twin+"/api/tickets", body, u)
	assert.Equal(t, 201, again.Status)
	assert.Equal(t, first.Body["id"], again.Body["id"], "the retry is answered with the first ticket")

	var wg sync.WaitGroup
	ids := make([]any, 10)
	for i := range ids {
		url := []string{e.URL, twin}[i%2]
		wg.Go(func() {
			r := testkit.DoWith(t, withKey("k2"), "POST", url+"/api/tickets", body, u)
			assert.Equal(t, 201, r.Status, r.Raw)
			ids[i] = r.Body["id"]
		})
	}
	wg.Wait()
	for _, id := range ids {
		assert.Equal(t, ids[0], id)
	}

	changed := testkit.DoWith(t, withKey("k1"), "POST", e.URL+"/api/tickets", `{"title":"concert","price":25}`, u)
	assert.Equal(t, 422, changed.Status)
	other := testkit.DoWith(t, withKey("k1"), "POST", e.URL+"/api/tickets", body, user(t, "u2"))
	assert.Equal(t, 201, other.Status)
	assert.NotEqual(t, first.Body["id"], other.Body["id"], "another user's key is another request")

	assert.Len(t, do(t, "GET", e.URL+"/api/tickets", "").List, 3, "k1, k2 and u2's k1")
}
