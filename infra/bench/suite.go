package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/infra/ingress"
	"ticketing.dev/infra/stack"
)

// Options size a run.
type Options struct {
	Concurrency int
	Duration    time.Duration
	Users       int
	Tickets     int
	Log         func(format string, args ...any)
	// Around, if set, is called as each scenario starts; the func it
	// returns is called when the scenario ends (e.g. to take a profile).
	Around func(scenario string) (done func())
	// Only, if set, runs just the scenarios whose name contains it.
	Only string
}

// Report is everything one run measured.
type Report struct {
	Options    Options
	Results    []Result
	Ceilings   map[string]Result
	IngressP50 time.Duration // added by the ingress, at p50
	RSS        map[string]int64
	ColdStart  map[string]time.Duration
	Started    time.Time
}

// Suite runs the scenarios against a running stack.
type Suite struct {
	st      *stack.Stack
	opt     Options
	c       *client
	users   []string // session cookies
	tickets []string // ids of the seeded tickets
	seq     atomic.Int64
}

// NewSuite seeds the stack: users, and tickets spread over them.
func NewSuite(ctx context.Context, st *stack.Stack, opt Options) (*Suite, error) {
	s := &Suite{st: st, opt: opt, c: newClient(st.URL(), opt.Concurrency)}
	run := time.Now().UnixNano()
	for i := range opt.Users {
		cookie, err := s.c.signup(ctx, fmt.Sprintf("seed-%d-%d@bench.test", run, i))
		if err != nil {
			return nil, err
		}
		s.users = append(s.users, cookie)
	}
	for i := range opt.Tickets {
		var t idBody
		err := s.c.call(ctx, http.MethodPost, "/api/tickets", s.users[i%len(s.users)],
			map[string]any{"title": fmt.Sprintf("Seeded ticket %d", i), "price": 10 + i%90}, http.StatusCreated, &t)
		if err != nil {
			return nil, fmt.Errorf("seeding tickets: %w", err)
		}
		s.tickets = append(s.tickets, t.ID)
	}
	return s, nil
}

func (s *Suite) user(w int) string { return s.users[w%len(s.users)] }

// Run runs every ceiling and scenario in turn.
func (s *Suite) Run(ctx context.Context) (*Report, error) {
	r := &Report{Options: s.opt, Ceilings: map[string]Result{}, Started: time.Now()}
	conc, d := s.opt.Concurrency, s.opt.Duration
	scenario := func(name string, op TimedOp) {
		if !strings.Contains(name, s.opt.Only) {
			return
		}
		done := func() {}
		if s.opt.Around != nil {
			done = s.opt.Around(name)
		}
		res := RunTimed(ctx, name, conc, d, op)
		done()
		s.opt.Log("%s", res)
		r.Results = append(r.Results, res)
	}
	timed := func(op Op) TimedOp {
		return func(ctx context.Context, w int) (time.Duration, error) {
			t := time.Now()
			err := op(ctx, w)
			return time.Since(t), err
		}
	}

	findOne, err := s.findOneCeiling(ctx)
	if err != nil {
		return nil, err
	}
	r.Ceilings["findone"] = findOne
	s.opt.Log("%s", findOne)
	bare, err := s.bareHandlerCeilings(ctx)
	if err != nil {
		return nil, err
	}
	for k, v := range bare {
		r.Ceilings[k] = v
		s.opt.Log("%s", v)
	}
	// The ingress's own cost is read unloaded: at full load on two cores
	// the difference is mostly processes queueing for a CPU.
	r.IngressP50 = bare["bare-ingress-1"].Percentile(50) - bare["bare-1"].Percentile(50)

	scenario("GET /api/tickets/:id", timed(func(ctx context.Context, w int) error {
		return s.c.call(ctx, http.MethodGet, "/api/tickets/"+s.tickets[rand.IntN(len(s.tickets))], "", nil, http.StatusOK, nil)
	}))
	scenario("GET /api/tickets", timed(func(ctx context.Context, w int) error {
		return s.c.call(ctx, http.MethodGet, "/api/tickets", "", nil, http.StatusOK, nil)
	}))
	scenario("GET /api/users/currentuser", timed(func(ctx context.Context, w int) error {
		var body struct {
			CurrentUser *struct{ ID string } `json:"currentUser"`
		}
		if err := s.c.call(ctx, http.MethodGet, "/api/users/currentuser", s.user(w), nil, http.StatusOK, &body); err != nil {
			return err
		}
		if body.CurrentUser == nil {
			return fmt.Errorf("signed-in user not recognised")
		}
		return nil
	}))
	scenario("POST /api/tickets", timed(func(ctx context.Context, w int) error {
		return s.c.call(ctx, http.MethodPost, "/api/tickets", s.user(w),
			map[string]any{"title": "Bench ticket", "price": "15.50"}, http.StatusCreated, nil)
	}))
	// Propagation with one client first, while the listeners have no
	// backlog: the pipeline's own latency. 32 clients then build a backlog
	// in front of the listeners that later scenarios would wait behind.
	conc = 1
	scenario("event propagation, 1 client", s.propagation)
	conc = s.opt.Concurrency
	scenario("purchase flow (order → pay → complete)", s.purchase)
	scenario("event propagation (order → ticket reserved)", s.propagation)
	scenario("POST /api/users/signup (bcrypt)", timed(func(ctx context.Context, w int) error {
		_, err := s.c.signup(ctx, fmt.Sprintf("bench-%d-%d@bench.test", time.Now().UnixNano(), s.seq.Add(1)))
		return err
	}))

	r.RSS = map[string]int64{}
	for _, name := range s.st.Services() {
		r.RSS[name] = rssKB(s.st.PID(name))
	}
	r.ColdStart = map[string]time.Duration{}
	for _, name := range s.st.Services() {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		d, err := s.st.Restart(cctx, name)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("restarting %s: %w", name, err)
		}
		r.ColdStart[name] = d
		s.opt.Log("cold start %s: %s", name, d)
	}
	return r, nil
}

// ordered is a fresh ticket reserved for the worker's buyer.
type ordered struct {
	ticketID, orderID, buyer string
	sent, answered           time.Time // the order request that succeeded
}

// order lists a fresh ticket and orders it, retrying while the orders
// replica does not have the ticket yet.
func (s *Suite) order(ctx context.Context, w int) (ordered, error) {
	var t, o idBody
	if err := s.c.call(ctx, http.MethodPost, "/api/tickets", s.user(w), map[string]any{"title": "Flow ticket", "price": 20}, http.StatusCreated, &t); err != nil {
		return ordered{}, err
	}
	res := ordered{ticketID: t.ID, buyer: s.user(w + 1)}
	err := until(ctx, 10*time.Second, 2*time.Millisecond, func() error {
		res.sent = time.Now()
		err := s.c.call(ctx, http.MethodPost, "/api/orders", res.buyer, map[string]string{"ticketId": t.ID}, http.StatusCreated, &o)
		res.answered = time.Now()
		return err
	})
	res.orderID = o.ID
	return res, err
}

// purchase is create order → pay → the order is complete in orders, timed
// from sending the order request that succeeded.
func (s *Suite) purchase(ctx context.Context, w int) (time.Duration, error) {
	o, err := s.order(ctx, w)
	if err != nil {
		return 0, err
	}
	err = until(ctx, 10*time.Second, 2*time.Millisecond, func() error {
		return s.c.call(ctx, http.MethodPost, "/api/payments", o.buyer, map[string]string{"token": "tok_visa", "orderId": o.orderID}, http.StatusCreated, nil)
	})
	if err != nil {
		return 0, err
	}
	err = poll(ctx, 10*time.Second, 2*time.Millisecond, func() (bool, error) {
		var got idBody
		err := s.c.call(ctx, http.MethodGet, "/api/orders/"+o.orderID, o.buyer, nil, http.StatusOK, &got)
		return got.Status == "complete", err
	})
	return time.Since(o.sent), err
}

// propagation is the time from POST /api/orders answering to the tickets
// service showing the ticket reserved by that order.
func (s *Suite) propagation(ctx context.Context, w int) (time.Duration, error) {
	o, err := s.order(ctx, w)
	if err != nil {
		return 0, err
	}
	err = poll(ctx, 10*time.Second, time.Millisecond, func() (bool, error) {
		var got idBody
		err := s.c.call(ctx, http.MethodGet, "/api/tickets/"+o.ticketID, "", nil, http.StatusOK, &got)
		return got.OrderID == o.orderID, err
	})
	return time.Since(o.answered), err
}

// findOneCeiling is the raw driver: FindOne by _id on the tickets
// database the service uses, at the same concurrency.
func (s *Suite) findOneCeiling(ctx context.Context) (Result, error) {
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(s.st.MongoURIOf("tickets")).SetMaxPoolSize(uint64(s.opt.Concurrency)))
	if err != nil {
		return Result{}, err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	coll := client.Database("tickets").Collection("tickets")
	ids := make([]primitive.ObjectID, len(s.tickets))
	for i, id := range s.tickets {
		ids[i], _ = primitive.ObjectIDFromHex(id)
	}
	return Run(ctx, "ceiling: raw FindOne by _id (Go driver)", s.opt.Concurrency, s.opt.Duration, func(ctx context.Context, w int) error {
		var doc bson.Raw
		return coll.FindOne(ctx, bson.D{{Key: "_id", Value: ids[rand.IntN(len(ids))]}}).Decode(&doc)
	}), nil
}

// bareHandlerCeilings measures a trivial Go handler directly and behind an
// ingress built the same way as the stack's (same package, same manifest),
// at full concurrency and with a single client.
func (s *Suite) bareHandlerCeilings(ctx context.Context) (map[string]Result, error) {
	body := []byte(`{"currentUser":null}` + "\n")
	bare := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})}
	bl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() { _ = bare.Serve(bl) }()
	defer bare.Close()

	table, err := ingress.Load(filepath.Join(s.st.Root(), "infra", "k8s", "ingress-srv.yaml"))
	if err != nil {
		return nil, err
	}
	front := &http.Server{Handler: ingress.Handler(table, func(string) (string, bool) { return bl.Addr().String(), true }, discardLogger())}
	fl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() { _ = front.Serve(fl) }()
	defer front.Close()

	get := func(base string, conc int) Op {
		c := newClient(base, conc)
		return func(ctx context.Context, w int) error {
			return c.call(ctx, http.MethodGet, "/api/users/currentuser", "", nil, http.StatusOK, nil)
		}
	}
	direct, via := "http://"+bl.Addr().String(), "http://"+fl.Addr().String()
	conc, d := s.opt.Concurrency, s.opt.Duration
	return map[string]Result{
		"bare":           Run(ctx, "ceiling: bare Go handler, direct", conc, d, get(direct, conc)),
		"bare-ingress":   Run(ctx, "ceiling: bare Go handler behind the ingress", conc, d, get(via, conc)),
		"bare-1":         Run(ctx, "bare Go handler, direct, 1 client", 1, d/3, get(direct, 1)),
		"bare-ingress-1": Run(ctx, "bare Go handler behind the ingress, 1 client", 1, d/3, get(via, 1)),
	}, nil
}

// rssKB reads a process's resident set size from /proc.
func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
