package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/infra/stack"
)

// Fault is something done to the running stack under load, as a crash
// would do it.
type Fault struct {
	// Name names the scenario in the report.
	Name string
	// Inject does it and says what it hit: which bus server, and how.
	Inject func(ctx context.Context, st *stack.Stack) (server int, hit string, err error)
}

// KillStreamLeader kills -9 the nats-server leading the JetStream
// stream's RAFT group: no publish is stored until the other two elect a
// new leader.
var KillStreamLeader = Fault{Name: "JetStream, 3 servers: kill -9 the stream's leader", Inject: func(ctx context.Context, st *stack.Stack) (int, string, error) {
	l, err := st.Leaders(ctx)
	if err != nil {
		return 0, "", err
	}
	if l.Stream < 0 {
		return 0, "", errors.New("the stream has no leader")
	}
	return killBus(st, l, l.Stream, "the stream's leader")
}}

// KillStreamFollower kills -9 a nats-server that holds a copy of the
// stream without leading it (the first such): the stream keeps its
// quorum, but the consumers that server leads elect new leaders.
var KillStreamFollower = Fault{Name: "JetStream, 3 servers: kill -9 a follower of the stream", Inject: func(ctx context.Context, st *stack.Stack) (int, string, error) {
	l, err := st.Leaders(ctx)
	if err != nil {
		return 0, "", err
	}
	for i := range st.BusServers() {
		if i != l.Stream {
			return killBus(st, l, i, "a follower of the stream")
		}
	}
	return 0, "", errors.New("the bus has no follower")
}}

// RestartStreamLeader stops the nats-server leading the stream as a
// rolling update does (SIGTERM: it steps down from its leaderships before
// it stops), and its supervisor starts it again: no election timeout to
// wait out, unlike a crash.
var RestartStreamLeader = Fault{Name: "JetStream, 3 servers: restart the stream's leader (SIGTERM)", Inject: func(ctx context.Context, st *stack.Stack) (int, string, error) {
	l, err := st.Leaders(ctx)
	if err != nil {
		return 0, "", err
	}
	if l.Stream < 0 {
		return 0, "", errors.New("the stream has no leader")
	}
	led := l.Led(l.Stream)
	if err := st.RestartBus(l.Stream); err != nil {
		return 0, "", err
	}
	return l.Stream, fmt.Sprintf("nats-%d, the stream's leader, leading %d of %d consumers", l.Stream, len(led), len(l.Consumers)), nil
}}

// KillSTAN kills -9 the NATS Streaming server.
var KillSTAN = Fault{Name: "NATS Streaming: kill -9 the server", Inject: func(_ context.Context, st *stack.Stack) (int, string, error) {
	return 0, "the NATS Streaming server", st.KillBus(0)
}}

func killBus(st *stack.Stack, l stack.BusLeaders, i int, role string) (int, string, error) {
	led := l.Led(i)
	if err := st.KillBus(i); err != nil {
		return 0, "", err
	}
	return i, fmt.Sprintf("nats-%d, %s, leading %d of %d consumers", i, role, len(led), len(l.Consumers)), nil
}

// FaultOptions shape a fault scenario's load.
type FaultOptions struct {
	// Clients run purchase flows (order → pay → complete) in a loop.
	Clients int
	// Load is how long flows are started; those under way then finish.
	Load time.Duration
	// At is when, after the load started, the fault is injected.
	At time.Duration
}

// FaultResult is what one fault scenario measured.
type FaultResult struct {
	Name    string
	Hit     string // what the fault hit
	Options FaultOptions
	// Requests is how many requests the load sent, FiveXX how many of
	// them were answered 5xx or not at all; FirstFiveXX and LastFiveXX
	// are their times from the fault, FirstError the first one.
	Requests                int
	FiveXX                  int
	FirstFiveXX, LastFiveXX time.Duration
	FirstError              string
	// Baseline is purchases completed per second before the fault.
	Baseline float64
	// Recovery is from the fault until purchases completed at half the
	// baseline again, for good (0: they never fell below it); -1 if they
	// had not by the load's end.
	Recovery time.Duration
	// Pause is the longest time after the fault without a purchase
	// completing.
	Pause time.Duration
	// Orders, Paid and Completed count the flows' orders, the payments
	// answered 201, and the orders seen complete while the load ran.
	Orders, Paid, Completed int
	// Consistency is the check of the mixed scenario, 5 s after the load
	// stopped.
	Consistency *Consistency
	// Lost counts orders not in the same final state in every service a
	// minute after the load stopped (an event that never arrived), with
	// one of them; Unpublished the events still pending in an outbox.
	Lost        int
	LostExample string
	Unpublished int
	// Whole is from the fault until the bus was whole again: the killed
	// server restarted and, on JetStream, every copy current.
	Whole time.Duration
	// Pids are the killed server's process before and after.
	Pids [2]int
	// Timeline is purchases completed in each second of the load, the
	// fault's second marked.
	Timeline string
	// Answers counts the load's answers by request and status ("POST
	// /api/orders 404"; "no answer").
	Answers map[string]int
	// Unfinished counts flows that made no order, with the first's error.
	Unfinished  int
	FirstFailed string
}

func (f FaultResult) String() string {
	recovery := "never fell"
	switch {
	case f.Recovery < 0:
		recovery = "not within the load"
	case f.Recovery > 0:
		recovery = f.Recovery.Round(10 * time.Millisecond).String()
	}
	inconsistent := "not checked"
	if f.Consistency != nil {
		inconsistent = fmt.Sprint(f.Consistency.Inconsistent)
	}
	out := fmt.Sprintf("%s (%s): %d clients, %d requests, %d 5xx%s; %.1f purchases/s before, recovery %s, longest pause %s; %d orders (%d paid, %d seen complete), %s inconsistent 5 s after the load stopped; lost %d, unpublished %d; the bus whole again %s after the kill",
		f.Name, f.Hit, f.Options.Clients, f.Requests, f.FiveXX, f.window(), f.Baseline, recovery, f.Pause.Round(10*time.Millisecond),
		f.Orders, f.Paid, f.Completed, inconsistent, f.Lost, f.Unpublished, f.Whole.Round(100*time.Millisecond))
	if f.FirstError != "" {
		out += "; first 5xx: " + f.FirstError
	}
	if f.LostExample != "" {
		out += "; lost: " + f.LostExample
	}
	return out
}

// window is when the 5xx came, from the fault, or "".
func (f FaultResult) window() string {
	if f.FiveXX == 0 {
		return ""
	}
	return fmt.Sprintf(" from %+.1fs to %+.1fs", f.FirstFiveXX.Seconds(), f.LastFiveXX.Seconds())
}

// recorder notes when each request of the load was answered and how.
type recorder struct {
	next  http.RoundTripper
	mu    sync.Mutex
	calls []answer
}

type answer struct {
	at     time.Time
	what   string // method and path, ids left out
	status int    // 0: no answer
	err    error
}

var idInPath = regexp.MustCompile(`[0-9a-f]{24}`)

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	a := answer{at: time.Now(), what: req.Method + " " + idInPath.ReplaceAllString(req.URL.Path, ":id"), err: err}
	if err == nil {
		a.status = resp.StatusCode
	}
	r.mu.Lock()
	r.calls = append(r.calls, a)
	r.mu.Unlock()
	return resp, err
}

// Fault runs purchase flows from o.Clients clients for o.Load, injects f
// o.At into it, and measures what the users saw: 5xx, how long purchases
// took to complete at half their earlier rate again; then whether every
// order the flows made is consistent 5 s after the load stopped (the check
// of the mixed scenario) and, within a minute, in the same final state in
// every service, with no event left unpublished. Last it waits for the
// bus to be whole again, so that the next scenario starts from it.
func (s *Suite) Fault(ctx context.Context, f Fault, o FaultOptions) (FaultResult, error) {
	res := FaultResult{Name: f.Name, Options: o}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err := s.st.WaitForBusWhole(wctx)
	cancel()
	if err != nil {
		return res, fmt.Errorf("before %s: %w", f.Name, err)
	}
	rec := &recorder{next: &http.Transport{MaxIdleConns: o.Clients * 2, MaxIdleConnsPerHost: o.Clients * 2, IdleConnTimeout: time.Minute}}
	load := &Suite{st: s.st, opt: s.opt, users: s.users, c: &client{base: s.st.URL(), http: &http.Client{Timeout: 30 * time.Second, Transport: rec}}}

	var mu sync.Mutex
	var orders []placed
	var completed []time.Time
	start := time.Now()
	deadline := start.Add(o.Load)
	var wg sync.WaitGroup
	for w := range o.Clients {
		wg.Go(func() {
			// Flows started before the deadline finish: every order made
			// is known, and checked.
			for ctx.Err() == nil && time.Now().Before(deadline) {
				p, done, err := load.faultFlow(ctx, w)
				mu.Lock()
				if p.orderID != "" {
					orders = append(orders, p)
				} else if ctx.Err() == nil {
					res.Unfinished++
					if res.FirstFailed == "" && err != nil {
						res.FirstFailed = err.Error()
					}
				}
				if !done.IsZero() {
					completed = append(completed, done)
				}
				mu.Unlock()
			}
		})
	}
	var faultAt time.Time
	whole := make(chan back, 1)
	select {
	case <-ctx.Done():
	case <-time.After(o.At):
		pids := busPIDs(s.st)
		faultAt = time.Now()
		var server int
		server, res.Hit, err = f.Inject(ctx, s.st)
		if err == nil {
			old := pids[server]
			res.Pids[0] = old
			go func() { whole <- s.backWhole(ctx, server, old, faultAt) }()
		}
	}
	wg.Wait()
	stopped := time.Now()
	if err != nil {
		return res, fmt.Errorf("%s: %w", f.Name, err)
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	s.opt.Log("%s: killed %s after %s; the load stopped %s after it", f.Name, res.Hit, o.At, stopped.Sub(faultAt).Round(100*time.Millisecond))

	res.Orders, res.Completed = len(orders), len(completed)
	for _, p := range orders {
		if p.paid {
			res.Paid++
		}
	}
	res.served(rec.calls, faultAt)
	slices.SortFunc(completed, func(a, b time.Time) int { return a.Compare(b) })
	res.recovery(completed, start, faultAt, deadline)
	res.Timeline = timeline(completed, start, faultAt, stopped)
	s.opt.Log("%s: purchases completed per second: %s; answers: %v; %d flows made no order (first: %s)", f.Name, res.Timeline, res.Answers, res.Unfinished, res.FirstFailed)

	if res.Consistency, err = s.checkConsistency(ctx, orders, 5*time.Second); err != nil {
		return res, err
	}
	if err := s.settled(ctx, &res, orders, stopped); err != nil {
		return res, err
	}
	b := <-whole
	if b.err != nil {
		return res, fmt.Errorf("after %s: %w", f.Name, b.err)
	}
	res.Whole, res.Pids[1] = b.after, b.pid
	s.opt.Log("%s", res)
	return res, nil
}

// busPIDs are the bus servers' processes now.
func busPIDs(st *stack.Stack) []int {
	pids := make([]int, st.BusServers())
	for i := range pids {
		pids[i] = st.BusPID(i)
	}
	return pids
}

// back is when a killed bus server was back, from the fault, as which
// process.
type back struct {
	after time.Duration
	pid   int
	err   error
}

// backWhole waits until bus server i runs again as a process other than
// old and the bus is whole (every copy current).
func (s *Suite) backWhole(ctx context.Context, i, old int, faultAt time.Time) back {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var b back
	for b.pid == 0 || b.pid == old {
		select {
		case <-ctx.Done():
			return back{err: fmt.Errorf("bus server %d was not restarted: %w", i, ctx.Err())}
		case <-time.After(20 * time.Millisecond):
		}
		b.pid = s.st.BusPID(i)
	}
	if b.err = s.st.WaitForBusWhole(ctx); b.err == nil {
		b.after = time.Since(faultAt)
	}
	return b
}

// faultFlow is one purchase: a fresh ticket ordered, paid and seen
// complete. p names the order once it was made (and says if the payment
// answered 201), err why not; done is when it was seen complete, zero if
// not.
func (s *Suite) faultFlow(ctx context.Context, w int) (p placed, done time.Time, err error) {
	o, err := s.order(ctx, w)
	if err != nil || o.orderID == "" {
		return placed{}, time.Time{}, err
	}
	p = placed{orderID: o.orderID, ticketID: o.ticketID, buyer: o.buyer}
	// 404 while payments has not learnt of the order yet.
	p.paid = until(ctx, 15*time.Second, 2*time.Millisecond, func() error {
		return s.c.call(ctx, http.MethodPost, "/api/payments", o.buyer, map[string]string{"token": "tok_visa", "orderId": o.orderID}, http.StatusCreated, nil)
	}) == nil
	if !p.paid {
		return p, time.Time{}, nil
	}
	wait := 2 * time.Millisecond
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); wait = min(2*wait, 50*time.Millisecond) {
		var got idBody
		if s.c.call(ctx, http.MethodGet, "/api/orders/"+o.orderID, o.buyer, nil, http.StatusOK, &got) == nil && got.Status == "complete" {
			return p, time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return p, time.Time{}, nil
		case <-time.After(wait):
		}
	}
	return p, time.Time{}, nil
}

// served counts the answers that were 5xx or never came, and when.
func (f *FaultResult) served(calls []answer, faultAt time.Time) {
	f.Requests = len(calls)
	f.Answers = map[string]int{}
	for _, a := range calls {
		if a.err != nil {
			f.Answers[a.what+" no answer"]++
		} else {
			f.Answers[fmt.Sprintf("%s %d", a.what, a.status)]++
		}
		if a.err == nil && a.status < 500 {
			continue
		}
		at := a.at.Sub(faultAt)
		if f.FiveXX == 0 {
			f.FirstFiveXX, f.LastFiveXX = at, at
			if a.err != nil {
				f.FirstError = fmt.Sprintf("%s: %v", a.what, a.err)
			} else {
				f.FirstError = fmt.Sprintf("%s: %d", a.what, a.status)
			}
		}
		f.FirstFiveXX, f.LastFiveXX = min(f.FirstFiveXX, at), max(f.LastFiveXX, at)
		f.FiveXX++
	}
}

// recoveryWindow is the span over which the completion rate is read, and
// recoveryStep how far apart the reads are.
// Two seconds: 32 clients' flows complete in bursts, and one-second
// windows dipped under half the rate with no fault at all.
const (
	recoveryWindow = 2 * time.Second
	recoveryStep   = recoveryWindow / 10
)

// recovery reads the completions (sorted): the rate before the fault;
// the first window after it from which on every window held half that
// rate, taken at its middle; and the longest pause.
func (f *FaultResult) recovery(done []time.Time, start, faultAt, deadline time.Time) {
	count := func(from, to time.Time) int {
		return sortedIndex(done, to) - sortedIndex(done, from)
	}
	// Skip the start, when every client is on its first flow.
	from := start.Add(min(2*time.Second, faultAt.Sub(start)/2))
	if span := faultAt.Sub(from); span > 0 {
		f.Baseline = float64(count(from, faultAt)) / span.Seconds()
	}
	need := f.Baseline * recoveryWindow.Seconds() / 2
	var lastLow time.Time // the end of the last window under need
	for t := faultAt.Add(recoveryStep); !t.After(deadline); t = t.Add(recoveryStep) {
		if float64(count(t.Add(-recoveryWindow), t)) < need {
			lastLow = t
		}
	}
	switch {
	case lastLow.IsZero():
		f.Recovery = 0
	case deadline.Sub(lastLow) < recoveryWindow:
		f.Recovery = -1
	default:
		f.Recovery = max(lastLow.Add(recoveryStep-recoveryWindow/2).Sub(faultAt), recoveryStep)
	}
	prev := faultAt
	for _, d := range done[sortedIndex(done, faultAt):] {
		f.Pause = max(f.Pause, d.Sub(prev))
		prev = d
	}
	if deadline.Sub(prev) > f.Pause {
		f.Pause = deadline.Sub(prev) // none since, to the load's end
	}
}

// timeline counts the completions (sorted) in each second from start to
// end, the fault's second in brackets.
func timeline(done []time.Time, start, faultAt, end time.Time) string {
	var b strings.Builder
	for t := start; t.Before(end); t = t.Add(time.Second) {
		n := sortedIndex(done, t.Add(time.Second)) - sortedIndex(done, t)
		if !faultAt.Before(t) && faultAt.Before(t.Add(time.Second)) {
			fmt.Fprintf(&b, "[%d] ", n)
		} else {
			fmt.Fprintf(&b, "%d ", n)
		}
	}
	return strings.TrimSpace(b.String())
}

// sortedIndex is the index of the first time in done at or after t.
func sortedIndex(done []time.Time, t time.Time) int {
	i, _ := slices.BinarySearchFunc(done, t, func(a, b time.Time) int { return a.Compare(b) })
	return i
}

// settled waits, up to a minute after the load stopped, until every order
// is in the same final state in every service, and counts those that are
// not then (Lost) and the events still pending in an outbox (Unpublished).
// An order's final state in every service: payments' replica of the order
// has its status and version; the ticket names the order unless it was
// cancelled, and is sold once it is complete; orders' replica of the
// ticket has the ticket's version; and the payment succeeded exactly
// when the order is complete. Each of the flow's events is in there.
func (s *Suite) settled(ctx context.Context, res *FaultResult, orders []placed, stopped time.Time) error {
	dbs := map[string]*mongo.Database{}
	for _, svc := range []string{"orders", "tickets", "payments"} {
		c, err := mongo.Connect(ctx, options.Client().ApplyURI(s.st.MongoURIOf(svc)))
		if err != nil {
			return err
		}
		defer c.Disconnect(context.WithoutCancel(ctx))
		dbs[svc] = c.Database(svc)
	}
	pending := orders
	for {
		var still []placed
		for _, o := range pending {
			problem, err := finalState(ctx, dbs, o)
			if err != nil {
				return err
			}
			if problem != "" {
				still = append(still, o)
				res.LostExample = problem
			}
		}
		pending = still
		res.Unpublished = 0
		for _, db := range dbs {
			n, err := db.Collection("versions").CountDocuments(ctx, bson.D{{Key: "pending", Value: true}})
			if err != nil {
				return err
			}
			res.Unpublished += int(n)
		}
		if (len(pending) == 0 && res.Unpublished == 0) || time.Since(stopped) > time.Minute {
			res.Lost = len(pending)
			if res.Lost == 0 {
				res.LostExample = ""
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// finalState says where o's services disagree, or "".
func finalState(ctx context.Context, dbs map[string]*mongo.Database, o placed) (string, error) {
	type doc struct {
		Status  string `bson:"status"`
		Version int64  `bson:"version"`
		OrderID string `bson:"orderId"`
		Sold    bool   `bson:"sold"`
	}
	one := func(db, coll string, filter bson.D) (doc, bool, error) {
		var d doc
		err := dbs[db].Collection(coll).FindOne(ctx, filter).Decode(&d)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return d, false, nil
		}
		return d, err == nil, err
	}
	oid, _ := primitive.ObjectIDFromHex(o.orderID)
	tid, _ := primitive.ObjectIDFromHex(o.ticketID)
	byID := func(id primitive.ObjectID) bson.D { return bson.D{{Key: "_id", Value: id}} }
	ord, found, err := one("orders", "orders", byID(oid))
	if err != nil || !found {
		return fmt.Sprintf("order %s: not in orders", o.orderID), err
	}
	replica, found, err := one("payments", "orders", byID(oid))
	if err != nil {
		return "", err
	}
	if !found || replica.Status != ord.Status || replica.Version != ord.Version {
		return fmt.Sprintf("order %s is %s v%d in orders, %s v%d in payments (found %v)", o.orderID, ord.Status, ord.Version, replica.Status, replica.Version, found), nil
	}
	t, found, err := one("tickets", "tickets", byID(tid))
	if err != nil || !found {
		return fmt.Sprintf("ticket %s: not in tickets", o.ticketID), err
	}
	switch {
	case ord.Status == "cancelled" && t.OrderID == o.orderID:
		return fmt.Sprintf("order %s is cancelled, its ticket still names it in tickets", o.orderID), nil
	case ord.Status != "cancelled" && t.OrderID != o.orderID:
		return fmt.Sprintf("order %s is %s, its ticket names %q in tickets", o.orderID, ord.Status, t.OrderID), nil
	case (ord.Status == "complete") != t.Sold:
		return fmt.Sprintf("order %s is %s, its ticket sold=%v in tickets", o.orderID, ord.Status, t.Sold), nil
	}
	tr, found, err := one("orders", "tickets", byID(tid))
	if err != nil {
		return "", err
	}
	if !found || tr.Version != t.Version {
		return fmt.Sprintf("ticket %s is v%d in tickets, v%d in orders (found %v)", o.ticketID, t.Version, tr.Version, found), nil
	}
	pay, _, err := one("payments", "payments", bson.D{{Key: "orderId", Value: oid}})
	if err != nil {
		return "", err
	}
	if (pay.Status == "succeeded") != (ord.Status == "complete") {
		return fmt.Sprintf("order %s is %s, its payment %q", o.orderID, ord.Status, pay.Status), nil
	}
	return "", nil
}

// FaultsMarkdown is the fault table.
func FaultsMarkdown(faults []FaultResult) string {
	if len(faults) == 0 {
		return ""
	}
	var b strings.Builder
	o := faults[0].Options
	fmt.Fprintf(&b, "Faults: %d clients run purchase flows (order → pay → complete) for %s through the ingress of a stack with two processes of every service; %s in, the bus process named is killed with SIGKILL (or stopped with SIGTERM, as a rolling update does) and its supervisor restarts it (after 1 s). 5xx counts answers that were 5xx or never came, with when they came from the kill; recovery is from the kill until purchases complete at half their earlier rate again for good (read over two-second windows, at the middle of the first); lost counts orders not in the same final state in every service a minute after the load (the payments and orders replicas, the ticket, the payment) plus events still unpublished in an outbox; inconsistent, orders the services disagree on 5 s after the load stopped. Targets on JetStream: no 5xx, recovery < 5 s; on both: 0 lost, 0 inconsistent.\n\n",
		o.Clients, o.Load, o.At)
	b.WriteString("| fault | killed | purchases/s before | 5xx (window from the kill) | recovery | longest pause | orders (paid) | lost | inconsistent after 5 s | bus whole again | |\n|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, f := range faults {
		recovery := "–"
		switch {
		case f.Recovery < 0:
			recovery = "> load"
		case f.Recovery > 0:
			recovery = fmt.Sprintf("%.1f s", f.Recovery.Seconds())
		}
		fivexx := "0"
		if f.FiveXX > 0 {
			fivexx = fmt.Sprintf("%d (%+.1f s to %+.1f s)", f.FiveXX, f.FirstFiveXX.Seconds(), f.LastFiveXX.Seconds())
		}
		inconsistent := -1
		if f.Consistency != nil {
			inconsistent = f.Consistency.Inconsistent
		}
		ok := f.Lost == 0 && f.Unpublished == 0 && inconsistent == 0
		if strings.HasPrefix(f.Name, "JetStream") {
			ok = ok && f.FiveXX == 0 && f.Recovery >= 0 && f.Recovery < 5*time.Second
		}
		fmt.Fprintf(&b, "| %s | %s | %.1f | %s | %s | %.1f s | %d (%d) | %d + %d | %d | %.1f s | %s |\n",
			f.Name, f.Hit, f.Baseline, fivexx, recovery, f.Pause.Seconds(), f.Orders, f.Paid, f.Lost, f.Unpublished, inconsistent, f.Whole.Seconds(), mark(ok))
	}
	for _, f := range faults {
		if f.FirstError != "" {
			fmt.Fprintf(&b, "\nFirst 5xx in %s: `%s`\n", f.Name, f.FirstError)
		}
		if f.LostExample != "" {
			fmt.Fprintf(&b, "\nLost in %s, for example: %s\n", f.Name, f.LostExample)
		}
	}
	return b.String()
}
