package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"ticketing.dev/common/events"
)

// Live updates: the client watches the bus (livebus.go) and pushes what a
// page shows to the browsers that show it, as Server-Sent Events on
// GET /live. Every page works without them; the script (static/app.js)
// only applies them to what is already on the page.

// liveEvent is one change from the bus. A ticket event (Name "ticket")
// goes to everyone: Data is its JSON, the same for every stream. An order
// event is only for its buyer: Order names the order, BuyerID the buyer
// when the event says (order:created); later order events carry no user,
// so a stream recognises them by the order ids it knows to be its user's,
// and words each for its page (liveOrder).
type liveEvent struct {
	Name   string
	Data   []byte
	Ticket liveTicket
	// Listed is a ticket just listed (ticket:created): the lists it
	// matches add it (ticketFilter).
	Listed  bool
	Order   *order
	BuyerID string
}

// liveTicket is a ticket's state in a "ticket" or "listed" event, with
// its words as the pages show them.
type liveTicket struct {
	ID        string  `json:"id"`
	Title     string  `json:"title,omitempty"`
	Price     float64 `json:"price,omitempty"`
	PriceText string  `json:"priceText,omitempty"`
	UserID    string  `json:"userId,omitempty"`
	Status    string  `json:"status"`
	Label     string  `json:"label"`
}

// liveOrder is an order's state in an "order" or "ordered" event: what
// its page and its row in My Orders show, worded as they word it (State).
type liveOrder struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Refunded bool   `json:"refunded,omitempty"`
	State    string `json:"state"`
	Label    string `json:"label"`
	// The rest makes a row of My Orders, for an order it does not show yet.
	Title       string `json:"title,omitempty"`
	PriceText   string `json:"priceText,omitempty"`
	ExpiresAt   string `json:"expiresAt,omitempty"`
	Created     string `json:"created,omitempty"`
	CreatedText string `json:"createdText,omitempty"`
}

func ticketEvent(t liveTicket) liveEvent {
	t.Label = ticketLabel(t.Status)
	if t.Price > 0 {
		t.PriceText = usd(t.Price)
	}
	data, _ := json.Marshal(t) // plain strings and numbers: cannot fail
	return liveEvent{Name: "ticket", Data: data, Ticket: t}
}

// listedEvent is a ticket just listed.
func listedEvent(t liveTicket) liveEvent {
	e := ticketEvent(t)
	e.Listed = true
	return e
}

// orderEvent is a change of order o (the bus says its id, status and
// whether it was refunded); buyerID when the event names the buyer.
func orderEvent(o order, buyerID string) liveEvent {
	return liveEvent{Name: "order", Order: &o, BuyerID: buyerID}
}

// orderView is o at now as the browser is sent it.
func orderView(o order, now time.Time) liveOrder {
	v := liveOrder{ID: o.ID, Status: o.Status, Refunded: o.Refunded, State: o.State(now),
		ExpiresAt: o.ExpiresISO(), Created: o.CreatedISO(), CreatedText: o.CreatedText()}
	v.Label = orderLabel(v.State)
	if o.Ticket != nil {
		v.Title, v.PriceText = o.Ticket.Title, usd(o.Ticket.Price)
	}
	return v
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
// its render (or a lost connection) and the stream's start. A list's first
// page asks with ?new= for new entries that belong on it (watch).
func (f *frontend) live(w http.ResponseWriter, r *http.Request) {
	events, done := f.hub.subscribe() // first: nothing is missed while the snapshot loads
	defer done()

	u, err := f.currentUser(r)
	if err != nil {
		f.streamUnavailable(w, r, err)
		return
	}
	q := r.URL.Query()
	adds := parseWatch(q)
	mine, first, err := f.snapshot(r, u, q)
	if err != nil {
		f.streamUnavailable(w, r, err)
		return
	}
	me := ""
	if u != nil {
		me = u.ID
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
			name, data := e.Name, e.Data
			switch {
			case e.Order != nil:
				known, ok := mine[e.Order.ID]
				if me == "" || !(ok || e.BuyerID == me) {
					continue // someone else's order
				}
				o := f.liveOrderOf(r, *e.Order, known)
				mine[o.ID] = o
				if e.BuyerID == me && adds.orders && adds.orderStatus(e.Order.Status) {
					name = "ordered"
				}
				data, _ = json.Marshal(orderView(o, f.now()))
			case e.Listed && adds.tickets && adds.filter.match(e.Ticket, me):
				name = "listed"
			}
			if !send("event: %s\ndata: %s\n\n", name, data) {
				return
			}
		}
	}
}

// snapshot is what a stream starts from: the user's orders it knows (their
// later events carry no user), and the current state of the page's own
// order (?order=) or ticket (?ticket=) as first events.
func (f *frontend) snapshot(r *http.Request, u *user, q url.Values) (map[string]order, []liveEvent, error) {
	mine := map[string]order{}
	var first []liveEvent
	if u != nil {
		// The newest orders: those that still change. An order page's
		// own order is fetched by itself below, however old.
		var orders []order
		if _, err := f.orders.call(r, http.MethodGet, "/api/orders?limit=100", nil, &orders); err != nil {
			return nil, nil, err
		}
		for _, o := range orders {
			mine[o.ID] = o
		}
		if id := q.Get("order"); id != "" {
			var o order
			if _, err := f.orders.call(r, http.MethodGet, "/api/orders/"+url.PathEscape(id), nil, &o); err == nil && o.ID == id {
				mine[id] = o
				data, _ := json.Marshal(orderView(o, f.now()))
				first = append(first, liveEvent{Name: "order", Data: data})
			}
		}
	}
	if id := q.Get("ticket"); validID(id) {
		var t ticket
		if _, err := f.tickets.call(r, http.MethodGet, "/api/tickets/"+url.PathEscape(id), nil, &t); err == nil {
			first = append(first, ticketEvent(liveTicket{ID: t.ID, Title: t.Title, Price: t.Price, UserID: t.UserID, Status: t.State()}))
		}
	}
	return mine, first, nil
}

// watch is what a list page's stream adds to the list: the page is the
// first of its list, newest first (lists.go), and asks with new=tickets
// for new listings that match its filters, or with new=orders for the
// user's new orders of the statuses it lists.
type watch struct {
	tickets  bool
	filter   ticketFilter
	orders   bool
	statuses map[string]bool // orders' statuses; empty: any
}

func parseWatch(q url.Values) watch {
	var w watch
	switch q.Get("new") {
	case "tickets":
		w.filter, w.tickets = parseTicketFilter(q)
	case "orders":
		w.orders = true
		if s := q.Get("status"); s != "" {
			w.statuses = map[string]bool{}
			for st := range strings.SplitSeq(s, ",") {
				w.statuses[st] = true
			}
		}
	}
	return w
}

func (w watch) orderStatus(status string) bool { return len(w.statuses) == 0 || w.statuses[status] }

// liveOrderOf is the order of a bus event as orders now answers it (the
// page shows the order's ticket and time, which the events do not carry),
// or else as the event and what the stream knew say. A refund the event
// reports is kept: orders may record it a moment after the event.
func (f *frontend) liveOrderOf(r *http.Request, e order, known order) order {
	var o order
	if _, err := f.orders.call(r, http.MethodGet, "/api/orders/"+url.PathEscape(e.ID), nil, &o); err != nil || o.ID != e.ID {
		o = known
		if o.ID == "" {
			o = e
		}
		o.Status = e.Status
	}
	// The bus may announce a change a moment before the orders API shows
	// it (its writer publishes, then writes the document): an order the
	// API still shows open takes the event's final status.
	if final(e.Status) && !final(o.Status) {
		o.Status = e.Status
	}
	o.Refunded = o.Refunded || e.Refunded
	return o
}

// final reports whether an order in status s can change no more.
func final(s string) bool {
	return s == string(events.StatusComplete) || s == string(events.StatusCancelled)
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
