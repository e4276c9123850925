package main

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

var linkRe = regexp.MustCompile(`^<(/api/tickets\?[^>]+)>; rel="(next|prev)"$`)

// links returns a page's next and prev targets ("" when absent).
func links(t *testing.T, r response) (next, prev string) {
	t.Helper()
	for _, l := range r.Header.Values("Link") {
		m := linkRe.FindStringSubmatch(l)
		require.NotNil(t, m, l)
		if m[2] == "next" {
			next = m[1]
		} else {
			prev = m[1]
		}
	}
	return next, prev
}

func titles(r response) []string {
	out := []string{}
	for _, tk := range r.List {
		out = append(out, tk["title"].(string))
	}
	return out
}

func list(t *testing.T, e env, query string, cookies ...*http.Cookie) response {
	t.Helper()
	r := do(t, "GET", e.URL+"/api/tickets?"+query, "", cookies...)
	require.Equal(t, 200, r.Status, "%s: %s", query, r.Raw)
	return r
}

func TestFollowingNextLinksReachesEveryMatchOnceWhileTicketsAreAddedAndPrevLinksWalkBack(t *testing.T) {
	e := newEnv(t)
	seller := user(t, "seller")
	var want []string // newest first
	for i := range 7 {
		want = append([]string{fmt.Sprintf("jazz %d", i)}, want...)
		create(t, e, seller, fmt.Sprintf("jazz %d", i), 10)
		create(t, e, seller, fmt.Sprintf("rock %d", i), 10)
	}

	var got []string
	var pages []response
	path := "/api/tickets?q=jazz&limit=3"
	for path != "" {
		r := do(t, "GET", e.URL+path, "")
		require.Equal(t, 200, r.Status, r.Raw)
		pages = append(pages, r)
		got = append(got, titles(r)...)
		create(t, e, seller, fmt.Sprintf("jazz late %d", len(pages)), 10) // newer: before the walk's position
		path, _ = links(t, r)
		if path != "" {
			u, err := url.Parse(path)
			require.NoError(t, err)
			assert.Equal(t, "jazz", u.Query().Get("q"), "links keep the other parameters")
			assert.Equal(t, "3", u.Query().Get("limit"))
		}
	}
	assert.Equal(t, want, got, "every match once, newest first")
	require.Len(t, pages, 3)
	_, prev := links(t, pages[0])
	assert.Empty(t, prev, "no page before the first")

	// Back from the last page by prev links: the same pages.
	_, prev = links(t, pages[2])
	back := do(t, "GET", e.URL+prev, "")
	assert.Equal(t, titles(pages[1]), titles(back))
	_, prev = links(t, back)
	back = do(t, "GET", e.URL+prev, "")
	assert.Equal(t, titles(pages[0]), titles(back))
}

func TestEachParameterFiltersAndSorts(t *testing.T) {
	e := newEnv(t)
	alice, bob := user(t, "alice"), user(t, "bob")
	create(t, e, alice, "Jazz Festival 2027", 40)
	create(t, e, bob, "Manifesto reading", 10)
	create(t, e, alice, "Café Crème Jazz", 25)
	reserved := create(t, e, bob, "Rock Night", 60)["id"].(string)
	got := testkit.Capture[events.TicketUpdated](t, e.bus)
	testkit.Publish(t, e.bus, orderCreated(primitive.NewObjectID().Hex(), reserved))
	got.Wait(t, 1, 5*time.Second)
	shown(t, e, reserved, 1)

	assert.Equal(t, []string{"Café Crème Jazz", "Jazz Festival 2027"}, titles(list(t, e, "q=jazz")))
	assert.Equal(t, []string{"Jazz Festival 2027"}, titles(list(t, e, "q=JAZZ+fest")))
	assert.Equal(t, []string{"Café Crème Jazz"}, titles(list(t, e, "q=creme")), "accents ignored")
	assert.Empty(t, titles(list(t, e, "q=fest+manifesto")))
	assert.Empty(t, titles(list(t, e, "q=festo")), "a word prefix, not any substring")
	assert.Equal(t, []string{"Rock Night"}, titles(list(t, e, "status=reserved")))
	assert.Equal(t, []string{"Café Crème Jazz", "Manifesto reading", "Jazz Festival 2027"}, titles(list(t, e, "status=available")))
	assert.Equal(t, []string{"Café Crème Jazz", "Jazz Festival 2027"}, titles(list(t, e, "minPrice=20&maxPrice=40")))
	assert.Equal(t, []string{"Manifesto reading", "Café Crème Jazz", "Jazz Festival 2027", "Rock Night"}, titles(list(t, e, "sort=price")))
	assert.Equal(t, []string{"Rock Night", "Jazz Festival 2027", "Café Crème Jazz", "Manifesto reading"}, titles(list(t, e, "sort=-price")))
	assert.Equal(t, []string{"Jazz Festival 2027", "Manifesto reading", "Café Crème Jazz", "Rock Night"}, titles(list(t, e, "sort=oldest")))
	assert.Equal(t, []string{"Rock Night", "Manifesto reading"}, titles(list(t, e, "seller=me", bob)))
	assert.Equal(t, []string{"Café Crème Jazz"}, titles(list(t, e, "seller=me&q=jazz&maxPrice=30&status=available,reserved", alice)))
	assert.Equal(t, "reserved", list(t, e, "q=rock").List[0]["status"])
}

func TestSellerMeSignedOutIs401(t *testing.T) {
	e := newEnv(t)
	r := do(t, "GET", e.URL+"/api/tickets?seller=me", "")
	assert.Equal(t, 401, r.Status)
}

func TestBadParametersAre400NamingTheField(t *testing.T) {
	e := newEnv(t)
	for q, field := range map[string]string{
		"sort=cheap": "sort", "status=gone": "status", "limit=0": "limit", "limit=101": "limit", "limit=abc": "limit",
		"minPrice=abc": "minPrice", "maxPrice=$5": "maxPrice", "minPrice=30&maxPrice=20": "maxPrice",
		"after=nope": "after", "after=" + primitive.NewObjectID().Hex(): "after", "seller=xyz": "seller",
	} {
		r := do(t, "GET", e.URL+"/api/tickets?"+q, "")
		require.Equal(t, 400, r.Status, q)
		errs := r.Body["errors"].([]any)
		fields := []any{}
		for _, e := range errs {
			fields = append(fields, e.(map[string]any)["field"])
		}
		assert.Contains(t, fields, field, q)
	}
}

func TestAListingMadeOnOneProcessIsInTheOthersFirstPageWithinASecond(t *testing.T) {
	e := newEnv(t)
	twin, _ := e.process(t)
	for i := range 5 {
		tk := create(t, e, user(t, "seller"), fmt.Sprintf("listing %d", i), 10)
		start := time.Now()
		require.Eventually(t, func() bool {
			r := do(t, "GET", twin+"/api/tickets?sort=newest&limit=1", "")
			return len(r.List) == 1 && r.List[0]["id"] == tk["id"]
		}, time.Second, 10*time.Millisecond, "listing %d on the twin's first page", i)
		t.Logf("listing %d on the twin after %v", i, time.Since(start))
	}
}

func TestARestartedProcessRebuildsTheCatalogueFromTheDatabase(t *testing.T) {
	e := newEnv(t)
	for i := range 4 {
		create(t, e, user(t, "seller"), fmt.Sprintf("listing %d", i), float64(10+i))
	}
	fresh, _ := e.process(t) // a process started after the writes
	assert.Equal(t, []string{"listing 3", "listing 2", "listing 1", "listing 0"}, titles(do(t, "GET", fresh+"/api/tickets?sort=newest", "")))
	assert.Len(t, do(t, "GET", fresh+"/api/tickets", "").List, 4)
}

func TestWave2AfterATicketIDKeepsWorking(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := range 4 {
		ids = append(ids, create(t, e, user(t, "seller"), fmt.Sprintf("show %d", i), 10)["id"].(string))
	}
	// limit and after alone page oldest first, as in wave 2.
	assert.Equal(t, []string{"show 3"}, titles(list(t, e, "after="+ids[2])))
	assert.Equal(t, []string{"show 1", "show 0"}, titles(list(t, e, "sort=newest&after="+ids[2])))
}

func TestASaleAppliedByEitherProcessShowsAsSoldOnBoth(t *testing.T) {
	e := newEnv(t)
	twin, _ := e.process(t)
	id := create(t, e, user(t, "seller"), "concert", 20)["id"].(string)
	orderID := primitive.NewObjectID().Hex()
	got := testkit.Capture[events.TicketUpdated](t, e.bus)
	testkit.Publish(t, e.bus, orderCreated(orderID, id))
	got.Wait(t, 1, 5*time.Second) // reserved first (complete alone sells in one step)
	testkit.Publish(t, e.bus, events.OrderComplete{ID: orderID, Version: 2, Status: events.StatusComplete, Ticket: events.OrderTicket{ID: id, Price: 20}})
	// Two versions (reserved, then sold), or one (both at once) when the
	// sale is applied first: the two subjects are separate subscriptions.
	require.Eventually(t, func() bool {
		all := got.All()
		return len(all) > 0 && all[len(all)-1].Sold
	}, 5*time.Second, 10*time.Millisecond, "the sale is published")
	for _, base := range []string{e.URL, twin} {
		require.Eventually(t, func() bool {
			r := do(t, "GET", base+"/api/tickets?status=sold", "")
			return len(r.List) == 1 && r.List[0]["id"] == id
		}, time.Second, 10*time.Millisecond, base)
		assert.Empty(t, do(t, "GET", base+"/api/tickets?status=available,reserved", "").List, base)
	}
}
