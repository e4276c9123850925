package main

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stream is an open /live stream, read event by event.
type stream struct {
	t      *testing.T
	events chan string
}

// openStream opens path on the site with the site's cookies, and reads
// each event ("event: x\ndata: y") onto a channel.
func (s site) openStream(t *testing.T, path string, cookies ...*http.Cookie) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
	require.NoError(t, err)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := s.c.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	st := &stream{t: t, events: make(chan string, 16)}
	go func() {
		defer close(st.events)
		sc := bufio.NewScanner(resp.Body)
		var ev []string
		for sc.Scan() {
			if line := sc.Text(); line != "" {
				ev = append(ev, line)
				continue
			}
			if len(ev) > 0 {
				st.events <- strings.Join(ev, "\n")
			}
			ev = nil
		}
	}()
	require.Equal(t, "retry: 2000", st.next(), "the stream says how soon to reconnect")
	return st
}

func (st *stream) next() string {
	st.t.Helper()
	select {
	case e := <-st.events:
		return e
	case <-time.After(5 * time.Second):
		st.t.Fatal("no event within 5 s")
		return ""
	}
}

// quiet asserts that nothing arrives for a moment.
func (st *stream) quiet() {
	st.t.Helper()
	select {
	case e := <-st.events:
		st.t.Fatalf("unexpected event %q", e)
	case <-time.After(200 * time.Millisecond):
	}
}

// liveSite is a site whose frontend's hub the test can publish to.
func liveSite(t *testing.T) (site, *hub) {
	t.Helper()
	var h *hub
	s := newSiteWith(t, func(f *frontend) { h = f.hub })
	return s, h
}

// waitSubscribers waits until n streams listen to h.
func waitSubscribers(t *testing.T, h *hub, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.subs) == n
	}, 5*time.Second, 10*time.Millisecond)
}

func TestLiveSendsTicketChangesToEveryoneAndOrderChangesOnlyToTheirBuyer(t *testing.T) {
	s, h := liveSite(t)
	// The fake auth tells users apart by their session cookie.
	s.api.handle("GET /api/users/currentuser", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("session")
		switch {
		case err != nil:
			_, _ = w.Write([]byte(`{"currentUser":null}`))
		default:
			_, _ = w.Write([]byte(`{"currentUser":{"id":"` + c.Value + `","email":"x@y.z"}}`))
		}
	})
	s.api.handle("GET /api/orders", func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie("session")
		if c.Value == "buyer" {
			_, _ = w.Write([]byte(`[{"id":"o1","status":"created"}]`))
			return
		}
		_, _ = w.Write([]byte(`[]`))
	})
	anon := s.openStream(t, "/live")
	buyer := s.openStream(t, "/live", &http.Cookie{Name: "session", Value: "buyer"})
	other := s.openStream(t, "/live", &http.Cookie{Name: "session", Value: "other"})
	waitSubscribers(t, h, 3)

	h.publish(ticketEvent(liveTicket{ID: "t1", Title: "Gig", Price: 5, UserID: "seller", Status: statusAvailable}))
	want := `{"id":"t1","title":"Gig","price":5,"priceText":"$5.00","userId":"seller","status":"available","label":"Available"}`
	anon.expect("ticket", want)
	buyer.expect("ticket", want)
	other.expect("ticket", want)

	// An order the buyer already had, then one they just placed (known
	// by the buyer id on order:created), then its cancel. Orders does not
	// answer here, so each is worded from the event alone.
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	h.publish(orderEvent(order{ID: "o1", Status: "complete"}, ""))
	h.publish(orderEvent(order{ID: "o2", Status: "created", ExpiresAt: exp}, "buyer"))
	h.publish(orderEvent(order{ID: "o2", Status: "cancelled"}, ""))
	buyer.expect("order", `{"id":"o1","status":"complete","state":"paid","label":"Paid"}`)
	buyer.expect("order", `{"id":"o2","status":"created","state":"awaiting","label":"Awaiting payment","expiresAt":"`+exp.Format("2006-01-02T15:04:05.000Z07:00")+`"}`)
	buyer.expect("order", `{"id":"o2","status":"cancelled","state":"cancelled","label":"Cancelled","expiresAt":"`+exp.Format("2006-01-02T15:04:05.000Z07:00")+`"}`)
	anon.quiet()
	other.quiet()
}

// expect reads the next event and checks its name and JSON data.
func (st *stream) expect(name, data string) {
	st.t.Helper()
	got := st.next()
	gotName, gotData, ok := strings.Cut(got, "\n")
	require.True(st.t, ok, "not an event: %q", got)
	assert.Equal(st.t, "event: "+name, gotName)
	assert.JSONEq(st.t, data, strings.TrimPrefix(gotData, "data: "))
}

func TestLiveStartsWithTheCurrentStateOfThePagesOrderOrTicket(t *testing.T) {
	s, _ := liveSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("GET /api/orders", 200, `[{"id":"o1","status":"complete"}]`)
	s.api.json("GET /api/orders/o2", 200, `{"id":"o2","status":"cancelled","refunded":true,"ticket":{"id":"t1","title":"Gig","price":5}}`)
	st := s.openStream(t, "/live?order=o2")
	st.expect("order", `{"id":"o2","status":"cancelled","refunded":true,"state":"refunded","label":"Refunded","title":"Gig","priceText":"$5.00"}`)

	s.api.json("GET /api/tickets/0123456789abcdef01234567", 200, `{"id":"0123456789abcdef01234567","title":"Gig","price":5,"userId":"u2","orderId":"o9"}`)
	st = s.openStream(t, "/live?ticket=0123456789abcdef01234567")
	st.expect("ticket", `{"id":"0123456789abcdef01234567","title":"Gig","price":5,"priceText":"$5.00","userId":"u2","status":"reserved","label":"Reserved"}`)

	// Someone else's order is not theirs to watch: no snapshot.
	s.api.json("GET /api/orders/o7", 401, `{"errors":[{"message":"Not authorized"}]}`)
	st = s.openStream(t, "/live?order=o7")
	st.quiet()
}

func TestLiveAnswersHEADWithoutStreaming(t *testing.T) {
	s := newSite(t)
	req, _ := http.NewRequest(http.MethodHead, s.URL+"/live", nil)
	resp, err := s.c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no", resp.Header.Get("X-Accel-Buffering"), "ingress-nginx passes it unbuffered")
}

func TestLiveAsksToRetryLaterWhenAuthIsDown(t *testing.T) {
	s := newSite(t)
	s.api.json("GET /api/users/currentuser", 500, `{}`)
	resp, err := s.c.Get(s.URL + "/live")
	require.NoError(t, err)
	defer resp.Body.Close()
	body := new(strings.Builder)
	_, _ = bufio.NewReader(resp.Body).WriteTo(body)
	assert.Equal(t, 200, resp.StatusCode, "EventSource gives up on an error status; it retries an ended stream")
	assert.Equal(t, "retry: 10000\n\n", body.String())
}

func TestHubDropsAStreamThatFallsBehindAndCloseEndsTheRest(t *testing.T) {
	h := newHub()
	slow, _ := h.subscribe()
	fast, doneFast := h.subscribe()
	defer doneFast()
	for range subscriberBuffer + 1 {
		h.publish(ticketEvent(liveTicket{ID: "t", Status: statusAvailable}))
		<-fast
	}
	n := 0
	for range slow {
		n++
	}
	assert.Equal(t, subscriberBuffer, n, "the slow stream got what fitted, then was closed")

	h.close()
	_, open := <-fast
	assert.False(t, open, "close ends every stream, so shutdown is not held up")
	late, _ := h.subscribe()
	_, open = <-late
	assert.False(t, open, "no stream opens after close")
}

func TestLiveEndsASignedInStreamOnceItsSessionHasEnded(t *testing.T) {
	s := newSiteWith(t, func(f *frontend) { f.sessionRecheck = 20 * time.Millisecond })
	s.api.signedInAs("a@b.co")
	s.api.json("GET /api/orders", 200, `[]`)
	st := s.openStream(t, "/live")
	st.quiet() // still signed in: the stream stays open

	// Signed out in another tab (or the token revoked): auth no longer
	// knows the cookie's session.
	s.api.json("GET /api/users/currentuser", 200, `{"currentUser":null}`)
	select {
	case _, open := <-st.events:
		assert.False(t, open, "the stream ends rather than sending events")
	case <-time.After(5 * time.Second):
		t.Fatal("the stream outlived its session")
	}
}

func TestLiveAddsANewListingToTheFirstNewestPagesItMatchesOnly(t *testing.T) {
	s, h := liveSite(t)
	s.api.handle("GET /api/users/currentuser", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("session"); err == nil {
			_, _ = w.Write([]byte(`{"currentUser":{"id":"` + c.Value + `","email":"x@y.z"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"currentUser":null}`))
	})
	s.api.json("GET /api/orders", 200, `[]`)
	jazzPage := s.openStream(t, "/live?new=tickets&q=jazz&status=available&maxPrice=50")
	mine := s.openStream(t, "/live?new=tickets&seller=me", &http.Cookie{Name: "session", Value: "seller"})
	plain := s.openStream(t, "/live") // a later page, or another sort
	waitSubscribers(t, h, 3)

	h.publish(listedEvent(liveTicket{ID: "t1", Title: "Jazz Festival", Price: 20, UserID: "seller", Status: statusAvailable}))
	listed := `{"id":"t1","title":"Jazz Festival","price":20,"priceText":"$20.00","userId":"seller","status":"available","label":"Available"}`
	jazzPage.expect("listed", listed)
	mine.expect("listed", listed)
	plain.expect("ticket", listed) // rows it shows are updated; nothing is added

	h.publish(listedEvent(liveTicket{ID: "t2", Title: "Jazz Festival", Price: 60, UserID: "other", Status: statusAvailable}))
	jazzPage.expect("ticket", `{"id":"t2","title":"Jazz Festival","price":60,"priceText":"$60.00","userId":"other","status":"available","label":"Available"}`)
	mine.expect("ticket", `{"id":"t2","title":"Jazz Festival","price":60,"priceText":"$60.00","userId":"other","status":"available","label":"Available"}`)
}

func TestLiveShowsMyNewOrderOnMyOrders(t *testing.T) {
	s, h := liveSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("GET /api/orders", 200, `[]`)
	exp := time.Now().Add(15 * time.Minute).UTC().Truncate(time.Millisecond)
	expJSON := exp.Format("2006-01-02T15:04:05.000Z07:00")
	s.api.json("GET /api/orders/"+oid, 200, `{"id":"`+oid+`","status":"created","expiresAt":"`+expJSON+`","ticket":{"id":"t1","title":"Gig","price":5}}`)
	orders := s.openStream(t, "/live?new=orders")
	paid := s.openStream(t, "/live?new=orders&status=complete") // My Orders filtered to paid ones
	waitSubscribers(t, h, 2)

	h.publish(orderEvent(order{ID: oid, Status: "created", ExpiresAt: exp}, "u1"))
	created := time.Unix(0x01234567, 0).UTC() // the ObjectID's first 4 bytes
	row := `{"id":"` + oid + `","status":"created","state":"awaiting","label":"Awaiting payment","title":"Gig","priceText":"$5.00",
		"expiresAt":"` + expJSON + `","created":"` + created.Format(time.RFC3339) + `","createdText":"` + created.Format("2 Jan 2006 15:04 MST") + `"}`
	orders.expect("ordered", row)
	paid.expect("order", row) // not for a list of paid orders: its rows only
}

func TestLiveSaysTheSameStateAsAReload(t *testing.T) {
	s, h := liveSite(t)
	s.api.signedInAs("a@b.co")
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	s.api.json("GET /api/orders", 200, `[{"id":"`+oid+`","status":"created","expiresAt":"`+past+`"}]`)
	s.api.json("GET /api/orders/"+oid, 200, `{"id":"`+oid+`","status":"cancelled","expiresAt":"`+past+`","ticket":{"id":"t1","title":"Gig","price":5}}`)
	st := s.openStream(t, "/live")
	waitSubscribers(t, h, 1)
	h.publish(orderEvent(order{ID: oid, Status: "cancelled"}, "")) // expired: order:cancelled says no more
	got := st.next()
	assert.Contains(t, got, `"state":"expired","label":"Expired"`)
	assert.Contains(t, s.get(t, "/orders/"+oid).Body, `<span class="badge status-expired" id="order-status" data-state="expired" aria-live="polite">Expired</span>`)
}

// A writer publishes an order's change before it writes it, so the event
// can be read a moment before the API shows it: the stream says what the
// event says, not the older answer.
func TestLiveSaysAnOrderIsPaidWhenTheEventComesBeforeTheAPIShowsIt(t *testing.T) {
	s, h := liveSite(t)
	s.api.signedInAs("a@b.co")
	future := time.Now().Add(10 * time.Minute).UTC().Format(time.RFC3339Nano)
	open := `{"id":"` + oid + `","status":"created","expiresAt":"` + future + `","ticket":{"id":"t1","title":"Gig","price":5}}`
	s.api.json("GET /api/orders", 200, `[`+open+`]`)
	s.api.json("GET /api/orders/"+oid, 200, open) // not written yet
	st := s.openStream(t, "/live")
	waitSubscribers(t, h, 1)

	h.publish(orderEvent(order{ID: oid, Status: "complete"}, ""))
	got := st.next()
	assert.Contains(t, got, `"status":"complete","state":"paid","label":"Paid"`)
	assert.Contains(t, got, `"title":"Gig"`, "the rest from the API")
}
