package main

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var nextLinkRe = regexp.MustCompile(`^<(/api/tickets\?[^>]+)>; rel="next"$`)

func TestFollowingTheNextLinkReachesEveryTicketExactlyOnceOldestFirst(t *testing.T) {
	e := newEnv(t)
	var want []string
	for i := range 7 {
		want = append(want, create(t, e, user(t, "seller"), fmt.Sprintf("ticket %d", i), 10)["id"].(string))
	}
	var got []string
	path, pages := "/api/tickets?limit=3", 0
	for path != "" {
		r := do(t, "GET", e.URL+path, "")
		require.Equal(t, 200, r.Status, r.Raw)
		assert.LessOrEqual(t, len(r.List), 3)
		for _, tk := range r.List {
			got = append(got, tk["id"].(string))
		}
		pages++
		path = ""
		if link := r.Header.Get("Link"); link != "" {
			m := nextLinkRe.FindStringSubmatch(link)
			require.NotNil(t, m, link)
			path = m[1]
		}
	}
	assert.Equal(t, want, got)
	assert.Equal(t, 3, pages, "3 + 3 + 1")

	exact := do(t, "GET", e.URL+"/api/tickets?limit=7", "")
	assert.Len(t, exact.List, 7)
	assert.Empty(t, exact.Header.Get("Link"), "no next page when nothing remains")
	all := do(t, "GET", e.URL+"/api/tickets", "")
	assert.Len(t, all.List, 7, "without limit: every ticket, as before")
	assert.Empty(t, all.Header.Get("Link"))
}

func TestBadLimitOrAfterIs400(t *testing.T) {
	e := newEnv(t)
	for _, q := range []string{"limit=0", "limit=-1", "limit=abc", "limit=101", "limit=1.5", "limit=", "limit=2&after=nope", "after=123"} {
		r := do(t, "GET", e.URL+"/api/tickets?"+q, "")
		assert.Equal(t, 400, r.Status, q)
		assert.Contains(t, r.Raw, `"field":`, q)
	}
}
