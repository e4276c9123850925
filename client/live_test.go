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
	want := `event: ticket` + "\n" + `data: {"id":"t1","title":"Gig","price":5,"userId":"seller","status":"available"}`
	assert.Equal(t, want, anon.next())
	assert.Equal(t, want, buyer.next())
	assert.Equal(t, want, other.next())

	// An order the buyer already had, then one they just placed (known
	// by the buyer id on order:created), then its completion.
	h.publish(orderEvent(liveOrder{ID: "o1", Status: "complete"}, ""))
	h.publish(orderEvent(liveOrder{ID: "o2", Status: "created"}, "buyer"))
	h.publish(orderEvent(liveOrder{ID: "o2", Status: "cancelled"}, ""))
	assert.Equal(t, "event: order\ndata: {\"id\":\"o1\",\"status\":\"complete\"}", buyer.next())
	assert.Equal(t, "event: order\ndata: {\"id\":\"o2\",\"status\":\"created\"}", buyer.next())
	assert.Equal(t, "event: order\ndata: {\"id\":\"o2\",\"status\":\"cancelled\"}", buyer.next())
	anon.quiet()
	other.quiet()
}

func TestLiveStartsWithTheCurrentStateOfThePagesOrderOrTicket(t *testing.T) {
	s, _ := liveSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("GET /api/orders", 200, `[{"id":"o1","status":"complete"},{"id":"o2","status":"cancelled","refunded":true}]`)
	st := s.openStream(t, "/live?order=o2")
	assert.Equal(t, "event: order\ndata: {\"id\":\"o2\",\"status\":\"cancelled\",\"refunded\":true}", st.next())

	s.api.json("GET /api/tickets/0123456789abcdef01234567", 200, `{"id":"0123456789abcdef01234567","title":"Gig","price":5,"userId":"u2","orderId":"o9"}`)
	st = s.openStream(t, "/live?ticket=0123456789abcdef01234567")
	assert.Equal(t, "event: ticket\ndata: {\"id\":\"0123456789abcdef01234567\",\"title\":\"Gig\",\"price\":5,\"userId\":\"u2\",\"status\":\"reserved\"}", st.next())

	// Someone else's order is not theirs to watch: no snapshot.
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
