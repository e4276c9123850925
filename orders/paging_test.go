package main

import (
	"net/url"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var linkRel = regexp.MustCompile(`<([^>]*)>; rel="(next|prev)"`)

// links returns the page's next and prev targets ("" when absent).
func links(t *testing.T, r response) (next, prev string) {
	t.Helper()
	for _, l := range r.Header.Values("Link") {
		m := linkRel.FindStringSubmatch(l)
		require.NotNil(t, m, l)
		if m[2] == "next" {
			next = m[1]
		} else {
			prev = m[1]
		}
	}
	return next, prev
}

func ids(r response) []string {
	out := []string{}
	for _, o := range r.List {
		out = append(out, o["id"].(string))
	}
	return out
}

func TestOrdersPageNewestFirstWithNextAndPrevLinksThatWalkBothWays(t *testing.T) {
	e := newEnv(t)
	a := user(t, "alice")
	var placed []string // oldest first
	for i := range 5 {
		placed = append(placed, placeOrder(t, e, a, seedTicket(t, e, "show", float64(10+i)))["id"].(string))
	}
	placeOrder(t, e, user(t, "bob"), seedTicket(t, e, "bobs", 5))

	first := do(t, "GET", e.URL+"/api/orders?limit=2", "", a)
	require.Equal(t, 200, first.Status, first.Raw)
	assert.Equal(t, []string{placed[4], placed[3]}, ids(first))
	assert.Equal(t, "show", first.List[0]["ticket"].(map[string]any)["title"])
	next, prev := links(t, first)
	assert.Empty(t, prev, "no page before the first")
	u, err := url.Parse(next)
	require.NoError(t, err)
	assert.Equal(t, "/api/orders", u.Path)
	assert.Equal(t, "2", u.Query().Get("limit"), "the link keeps the other parameters")

	second := do(t, "GET", e.URL+next, "", a)
	assert.Equal(t, []string{placed[2], placed[1]}, ids(second))
	next, _ = links(t, second)
	last := do(t, "GET", e.URL+next, "", a)
	assert.Equal(t, []string{placed[0]}, ids(last))
	next, prev = links(t, last)
	assert.Empty(t, next, "no page after the last")

	back := do(t, "GET", e.URL+prev, "", a)
	assert.Equal(t, []string{placed[2], placed[1]}, ids(back))
	_, prev = links(t, back)
	back = do(t, "GET", e.URL+prev, "", a)
	assert.Equal(t, []string{placed[4], placed[3]}, ids(back))
	_, prev = links(t, back)
	assert.Empty(t, prev, "back on the first page")
}

func TestOrdersPageFiltersByStatus(t *testing.T) {
	e := newEnv(t)
	a := user(t, "alice")
	kept := placeOrder(t, e, a, seedTicket(t, e, "kept", 10))["id"].(string)
	dropped := placeOrder(t, e, a, seedTicket(t, e, "dropped", 11))["id"].(string)
	require.Equal(t, 204, do(t, "DELETE", e.URL+"/api/orders/"+dropped, "", a).Status)

	assert.Equal(t, []string{dropped}, ids(do(t, "GET", e.URL+"/api/orders?status=cancelled", "", a)))
	assert.Equal(t, []string{kept}, ids(do(t, "GET", e.URL+"/api/orders?status=created,awaiting:payment", "", a)))
	assert.Equal(t, []string{dropped, kept}, ids(do(t, "GET", e.URL+"/api/orders?status=created,cancelled", "", a)))
}

func TestOrdersPageRefusesBadParametersNamingTheField(t *testing.T) {
	e := newEnv(t)
	a := user(t, "alice")
	for query, field := range map[string]string{
		"limit=0": "limit", "limit=101": "limit", "limit=x": "limit",
		"status=gone": "status", "status=created,": "status",
		"after=zzz": "after", "after=" + url.QueryEscape("bm90LWFuLWlk"): "after",
	} {
		r := do(t, "GET", e.URL+"/api/orders?"+query, "", a)
		require.Equal(t, 400, r.Status, query)
		errs := r.Body["errors"].([]any)
		assert.Equal(t, field, errs[0].(map[string]any)["field"], query)
	}
	assert.Equal(t, 401, do(t, "GET", e.URL+"/api/orders?limit=2", "").Status)
}
