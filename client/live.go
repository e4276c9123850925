package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Live updates: the client watches the bus (livebus.go) and pushes what a
// page shows to the browsers that show it, as Server-Sent Events on
// GET /live. Every page works without them; the script (static/app.js)
// only applies them to what is already on the page.

// liveEvent is one change, as the browser receives it: Name is the SSE
// event name ("ticket" or "order"), Data its JSON. An order event is only
// for its buyer: OrderID names the order, BuyerID the buyer when the event
// says (order:created); later order events carry no user, so a stream
// recognises them by the order ids it knows to be its user's.
type liveEvent struct {
	Name    string
	Data    []byte
	OrderID string
	BuyerID string
}

// liveTicket is a ticket's state in a "ticket" event.
type liveTicket struct {
	ID     string  `json:"id"`
	Title  string  `json:"title,omitempty"`
	Price  float64 `json:"price,omitempty"`
	UserID string  `json:"userId,omitempty"`
	Status string  `json:"status"`
}

// liveOrder is an order's state in an "order" event.
type liveOrder struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Refunded bool   `json:"refunded,omitempty"`
}

func ticketEvent(t liveTicket) liveEvent {
	data, _ := json.Marshal(t) // plain strings and numbers: cannot fail
	return liveEvent{Name: "ticket", Data: data}
}

func orderEvent(o liveOrder, buyerID string) liveEvent {
	data, _ := json.Marshal(o)
	return liveEvent{Name: "order", Data: data, OrderID: o.ID, BuyerID: buyerID}
}

// subscriberBuffer is how many events a stream may fall behind by. A
// browser that cannot keep up is dropped; its EventSource reconnects and
// the page asks for a fresh snapshot.
const subscriberBuffer = 64

// hub fans every event out to every open stream. It is per process: each
// client replica watches the bus itself, so each sees every event.
type hub struct {
	mu     sync.Mutex
	subs   map[chan liveEvent]struct{}
	closed bool
}

func newHub() *hub { return &hub{subs: map[chan liveEvent]struct{}{}} }

// subscribe opens a stream's channel; the returned func closes it. After
// close (the client shutting down) the channel is closed at once.
func (h *hub) subscribe() (<-chan liveEvent, func()) {
	ch := make(chan liveEvent, subscriberBuffer)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	h.subs[ch] = struct{}{}
	return ch, func() { h.drop(ch) }
}

func (h *hub) drop(ch chan liveEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

// publish hands e to every stream without ever waiting on one: a full
// buffer drops that stream instead of holding up the bus.
func (h *hub) publish(e liveEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- e:
		default:
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// close ends every stream, so that a shutdown is not held up by browsers
// that would otherwise keep their streams open for ever.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
}

// Stream timing. The heartbeat keeps proxies (ingress-nginx's 60 s
// proxy-read-timeout) from taking a quiet stream for a dead one; retry is
// how long EventSource waits before reconnecting.
const (
	heartbeatInterval = 15 * time.Second
	streamRetry       = 2 * time.Second
	streamWriteWait   = 10 * time.Second
	unavailableRetry  = 10 * time.Second
	// sessionRecheck bounds how long a stream outlives its session (a
	// sign-out in another tab, a revoked token): one currentuser call per
	// signed-in stream and minute.
	sessionRecheck = time.Minute
)

// live streams ticket changes to everyone and, to a signed-in user, the
// changes of their own orders. ?order=<id> or ?ticket=<id> first sends that
// order's or ticket's current state, so a page learns what changed between
// its render (or a lost connection) and the stream's start.
func (f *frontend) live(w http.ResponseWriter, r *http.Request) {
	events, done := f.hub.subscribe() // first: nothing is missed while the snapshot loads
	defer done()

	u, err := f.currentUser(r)
	if err != nil {
		f.streamUnavailable(w, r, err)
		return
	}
	mine := map[string]bool{}
	var first []liveEvent
	if u != nil {
		var orders []order
		if _, err := f.orders.call(r, http.MethodGet, "/api/orders", nil, &orders); err != nil {
			f.streamUnavailable(w, r, err)
			return
		}
		for _, o := range orders {
			mine[o.ID] = true
		}
		if id := r.URL.Query().Get("order"); mine[id] {
			for _, o := range orders {
				if o.ID == id {
					first = append(first, orderEvent(liveOrder{ID: o.ID, Status: o.Status, Refunded: o.Refunded}, u.ID))
				}
			}
		}
	}
	if id := r.URL.Query().Get("ticket"); validID(id) {
		var t ticket
		if _, err := f.tickets.call(r, http.MethodGet, "/api/tickets/"+url.PathEscape(id), nil, &t); err == nil {
			first = append(first, ticketEvent(liveTicket{ID: t.ID, Title: t.Title, Price: t.Price, UserID: t.UserID, Status: t.State()}))
		}
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // ingress-nginx: do not buffer this answer
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return // the headers a GET would get, and no stream
	}
	rc := http.NewResponseController(w)
	send := func(format string, args ...any) bool {
		// The server's WriteTimeout would end the stream; each write gets
		// its own deadline instead.
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteWait))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: %d\n\n", streamRetry.Milliseconds()) {
		return
	}
	for _, e := range first {
		if !send("event: %s\ndata: %s\n\n", e.Name, e.Data) {
			return
		}
	}
	heartbeat := time.NewTicker(heartbeatInterval)
	defer heartbeat.Stop()
	var recheck <-chan time.Time
	if u != nil {
		t := time.NewTicker(f.sessionRecheck)
		defer t.Stop()
		recheck = t.C
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-heartbeat.C:
			if !send(": heartbeat\n\n") {
				return
			}
		case <-recheck:
			// A session that ended ends its stream; EventSource reconnects
			// as whoever the cookie now says. Auth being down tells nothing.
			if now, err := f.currentUser(r); err == nil && (now == nil || now.ID != u.ID) {
				return
			}
		case e, ok := <-events:
			if !ok {
				return
			}
			if e.OrderID != "" {
				if u == nil || !(mine[e.OrderID] || e.BuyerID == u.ID) {
					continue // someone else's order
				}
				mine[e.OrderID] = true
			}
			if !send("event: %s\ndata: %s\n\n", e.Name, e.Data) {
				return
			}
		}
	}
}

// streamUnavailable answers a stream that cannot start (auth or orders
// down): an empty stream that asks to be retried later. EventSource gives
// up for good on an error status, but reconnects after a stream ends.
func (f *frontend) streamUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	f.log.Warn("live stream unavailable", "err", err)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, "retry: %d\n\n", unavailableRetry.Milliseconds())
}

// validID is a 24-hex MongoDB ObjectID, the only id worth asking an API about.
func validID(id string) bool {
	if len(id) != 24 {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
