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
	// BigTickets is the second seed size every scenario is also run at.
	BigTickets int
	// MixedClients is the concurrency of the mixed scenario.
	MixedClients int
}

// Report is everything one run measured.
type Report struct {
	Options  Options
	Results  []Result
	Ceilings map[string]Result
	// Consistency is what the check after the mixed scenario found.
	Consistency *Consistency
	IngressP50  time.Duration // added by the ingress, at p50
	// Costs are what a purchase cost: the one-at-a-time measure (CostName)
	// and the purchase scenarios under load, by name.
	Costs     map[string]Cost
	RSS       map[string]int64
	ColdStart map[string]time.Duration
	Started   time.Time
	// Catalogue is the tickets process's footprint at each catalogue size.
	Catalogue []CatalogueRow
	// Faults are the bus kills under load (faults.go).
	Faults []FaultResult
}

// Suite runs the scenarios against a running stack.
type Suite struct {
	st      *stack.Stack
	opt     Options
	c       *client
	users   []string // session cookies
	tickets []string // ids of the seeded tickets
	seq     atomic.Int64
	// idle is the stack's idle rate of commands and CPU, once measured.
	idle   Idle
	idleOK bool
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
	if err := s.Seed(ctx, opt.Tickets); err != nil {
		return nil, err
	}
	return s, nil
}

// Settle waits until the orders service has replicated every ticket the
// tickets service holds: seeding leaves thousands of events for the
// listeners, and a scenario measured while they catch up measures them.
func (s *Suite) Settle(ctx context.Context, timeout time.Duration) error {
	count := func(svc, db string) (int64, error) {
		client, err := mongo.Connect(ctx, options.Client().ApplyURI(s.st.MongoURIOf(svc)))
		if err != nil {
			return 0, err
		}
		defer client.Disconnect(context.WithoutCancel(ctx))
		// Tickets only: a new ticket's outbox record is kept with it
		// until its event is marked published.
		return client.Database(db).Collection("tickets").CountDocuments(ctx, bson.D{{Key: "aggregate", Value: bson.D{{Key: "$exists", Value: false}}}})
	}
	want, err := count("tickets", "tickets")
	if err != nil {
		return err
	}
	return poll(ctx, timeout, 500*time.Millisecond, func() (bool, error) {
		got, err := count("orders", "orders")
		return got >= want, err
	})
}

// Seed lists tickets through the API until n are seeded, 32 at a time.
func (s *Suite) Seed(ctx context.Context, n int) error {
	from := len(s.tickets)
	if n <= from {
		return nil
	}
	ids := make([]string, n-from)
	errs := make(chan error, 32)
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range ids {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range 32 {
		go func() {
			for i := range next {
				var t idBody
				err := s.c.call(ctx, http.MethodPost, "/api/tickets", s.users[i%len(s.users)],
					map[string]any{"title": fmt.Sprintf("Seeded ticket %d", from+i), "price": 10 + (from+i)%90}, http.StatusCreated, &t)
				if err != nil {
					errs <- fmt.Errorf("seeding tickets: %w", err)
					return
				}
				ids[i] = t.ID
			}
			errs <- nil
		}()
	}
	for range 32 {
		if err := <-errs; err != nil {
			return err
		}
	}
	s.tickets = append(s.tickets, ids...)
	return nil
}

func (s *Suite) user(w int) string { return s.users[w%len(s.users)] }

// Ceilings measures what the scenarios are read against, in this run: the
// raw driver's FindOne and write, and a bare handler with and without the
// ingress.
func (s *Suite) Ceilings(ctx context.Context, r *Report) error {
	findOne, err := s.findOneCeiling(ctx)
	if err != nil {
		return err
	}
	r.Ceilings["findone"] = findOne
	s.opt.Log("%s", findOne)
	write, err := s.writeCeiling(ctx)
	if err != nil {
		return err
	}
	r.Ceilings["write"] = write
	s.opt.Log("%s", write)
	bare, err := s.bareHandlerCeilings(ctx)
	if err != nil {
		return err
	}
	for k, v := range bare {
		r.Ceilings[k] = v
		s.opt.Log("%s", v)
	}
	// The ingress's own cost is read unloaded: at full load on two cores
	// the difference is mostly processes queueing for a CPU.
	r.IngressP50 = bare["bare-ingress-1"].Percentile(50) - bare["bare-1"].Percentile(50)
	return nil
}

// NewReport starts a report of the run.
func NewReport(opt Options) *Report {
	return &Report{Options: opt, Ceilings: map[string]Result{}, Costs: map[string]Cost{}, Started: time.Now()}
}

// scenario runs one named scenario at conc clients unless Only leaves it out.
func (s *Suite) scenario(ctx context.Context, r *Report, name string, conc int, op TimedOp) {
	s.scenarioFor(ctx, r, name, conc, s.opt.Duration, op)
}

// scenarioFor is scenario for d instead of the suite's duration.
func (s *Suite) scenarioFor(ctx context.Context, r *Report, name string, conc int, d time.Duration, op TimedOp) {
	if !strings.Contains(name, s.opt.Only) {
		return
	}
	done := func() {}
	if s.opt.Around != nil {
		done = s.opt.Around(name)
	}
	// A purchase's (or a listing's) cost under load: every service's
	// commands and every process's CPU, from the scenario's start to its
	// end, per operation completed in it.
	var m *meter
	if strings.HasPrefix(name, "purchase flow") || strings.HasPrefix(name, "POST /api/tickets") {
		if err := s.ensureIdle(ctx); err != nil {
			s.opt.Log("measuring idle: %v", err)
		} else if m, err = startMeter(ctx, s.st); err != nil {
			s.opt.Log("metering %s: %v", name, err)
		}
	}
	res := RunTimed(ctx, name, conc, d, op)
	done()
	s.opt.Log("%s", res)
	r.Results = append(r.Results, res)
	if m != nil && res.Ops > 0 {
		used, err := m.stop(ctx, s.idle)
		if err != nil {
			s.opt.Log("metering %s: %v", name, err)
			return
		}
		c := used.per(res.Ops)
		r.Costs[name] = c
		s.opt.Log("%s: %s", name, c)
	}
}

// ensureIdle measures the stack's idle rates once, between scenarios.
func (s *Suite) ensureIdle(ctx context.Context) error {
	if s.idleOK {
		return nil
	}
	s.drain(ctx)
	idle, err := MeasureIdle(ctx, s.st, idleFor)
	if err != nil {
		return err
	}
	s.idle, s.idleOK = idle, true
	return nil
}

// idleFor is how long the idle rates are measured: several sweeps and many
// readiness probes of every process.
const idleFor = 6 * time.Second

// costPurchases is how many tickets the cost measure lists and buys.
const costPurchases = 20

// CommandsPerPurchase lists and buys costPurchases tickets one at a time
// and reports what each cost (MeasurePurchaseCost), under the name
// CostName+suffix.
func (s *Suite) CommandsPerPurchase(ctx context.Context, r *Report, suffix string) {
	name := CostName + suffix
	if !strings.Contains(name, s.opt.Only) {
		return
	}
	if err := s.ensureIdle(ctx); err != nil {
		s.opt.Log("measuring idle: %v", err)
		return
	}
	c, err := MeasurePurchaseCost(ctx, s.st, costPurchases, s.idle)
	if err != nil {
		s.opt.Log("%s: %v", name, err)
		return
	}
	r.Costs[name] = c
	s.opt.Log("%s", c)
}

func timed(op Op) TimedOp {
	return func(ctx context.Context, w int) (time.Duration, error) {
		t := time.Now()
		err := op(ctx, w)
		return time.Since(t), err
	}
}

// Scenarios runs every scenario, each name ending in suffix (the seed size
// or the replica count).
func (s *Suite) Scenarios(ctx context.Context, r *Report, suffix string) {
	conc := s.opt.Concurrency
	s.scenario(ctx, r, "GET /api/tickets/:id"+suffix, conc, timed(func(ctx context.Context, w int) error {
		return s.c.call(ctx, http.MethodGet, "/api/tickets/"+s.tickets[rand.IntN(len(s.tickets))], "", nil, http.StatusOK, nil)
	}))
	s.scenario(ctx, r, "GET /api/tickets (all)"+suffix, conc, timed(func(ctx context.Context, w int) error {
		return s.c.call(ctx, http.MethodGet, "/api/tickets", "", nil, http.StatusOK, nil)
	}))
	// Full reads cut off by the scenario's end still run on the server, up
	// to its 10 s database timeout: let them end before the next scenario.
	s.drain(ctx)
	s.scenario(ctx, r, "GET /api/users/currentuser"+suffix, conc, timed(func(ctx context.Context, w int) error {
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
	s.WriteScenarios(ctx, r, suffix)
	s.scenario(ctx, r, "POST /api/users/signup (bcrypt)"+suffix, conc, timed(func(ctx context.Context, w int) error {
		_, err := s.c.signup(ctx, fmt.Sprintf("bench-%d-%d@bench.test", time.Now().UnixNano(), s.seq.Add(1)))
		return err
	}))
}

// drain waits until the tickets service answers a read promptly again.
func (s *Suite) drain(ctx context.Context) {
	_ = poll(ctx, 15*time.Second, 200*time.Millisecond, func() (bool, error) {
		t := time.Now()
		err := s.c.call(ctx, http.MethodGet, "/api/tickets/"+s.tickets[0], "", nil, http.StatusOK, nil)
		return err == nil && time.Since(t) < 50*time.Millisecond, nil
	})
}

// WriteScenarios are the ones that write: listing, and the purchase and
// propagation pipelines at one client and at full concurrency.
func (s *Suite) WriteScenarios(ctx context.Context, r *Report, suffix string) {
	conc := s.opt.Concurrency
	s.scenario(ctx, r, "POST /api/tickets"+suffix, conc, timed(func(ctx context.Context, w int) error {
		return s.c.call(ctx, http.MethodPost, "/api/tickets", s.user(w),
			map[string]any{"title": "Bench ticket", "price": "15.50"}, http.StatusCreated, nil)
	}))
	// One client first, once the listeners have caught up with the
	// tickets just written: the pipeline's own latency, not a backlog's.
	if err := s.Settle(ctx, 2*time.Minute); err != nil {
		s.opt.Log("the orders replica did not catch up with the tickets: %v", err)
	}
	s.CommandsPerPurchase(ctx, r, suffix)
	s.scenario(ctx, r, "event propagation, 1 client"+suffix, 1, s.propagation)
	s.scenario(ctx, r, "purchase flow, 1 client"+suffix, 1, s.purchase)
	s.scenario(ctx, r, "purchase flow (order → pay → complete)"+suffix, conc, s.purchase)
	s.scenario(ctx, r, "event propagation (order → ticket reserved)"+suffix, conc, s.propagation)
}

// Footprint reads each service's RSS and times its cold start.
func (s *Suite) Footprint(ctx context.Context, r *Report) error {
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
			return fmt.Errorf("restarting %s: %w", name, err)
		}
		r.ColdStart[name] = d
		s.opt.Log("cold start %s: %s", name, d)
	}
	return nil
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

// writeCeiling is the raw driver doing what one write needs at least: the
// document's insert and the insert that claims its version, on the tickets
// database the service uses, at the same concurrency.
func (s *Suite) writeCeiling(ctx context.Context) (Result, error) {
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(s.st.MongoURIOf("tickets")).SetMaxPoolSize(uint64(s.opt.Concurrency)))
	if err != nil {
		return Result{}, err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	db := client.Database("tickets")
	docs, claims := db.Collection("ceiling_docs"), db.Collection("ceiling_claims")
	defer func() { _ = docs.Drop(context.WithoutCancel(ctx)); _ = claims.Drop(context.WithoutCancel(ctx)) }()
	return Run(ctx, "ceiling: raw write (insert + unique claim insert, Go driver)", s.opt.Concurrency, s.opt.Duration, func(ctx context.Context, w int) error {
		id := primitive.NewObjectID()
		if _, err := docs.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "title", Value: "Bench ticket"}, {Key: "price", Value: 15.5}, {Key: "userId", Value: "u"}, {Key: "version", Value: int64(0)}}); err != nil {
			return err
		}
		_, err := claims.InsertOne(ctx, bson.D{{Key: "_id", Value: "ticket/" + id.Hex() + "/0"}, {Key: "version", Value: int64(0)}})
		return err
	}), nil
}

// bareHandlerCeilings measures a trivial Go handler directly, behind an
// ingress built the same way as the stack's (same package, same manifest,
// same server), and behind that ingress and a balancer as the stack puts
// in front of every service: the whole path of an API request. Each at
// full concurrency and with a single client.
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

	lb, err := stack.StartBalancer("auth", []string{bl.Addr().String()}, discardLogger())
	if err != nil {
		return nil, err
	}
	defer lb.Stop()

	table, err := ingress.Load(filepath.Join(s.st.Root(), "infra", "k8s", "ingress-srv.yaml"))
	if err != nil {
		return nil, err
	}
	front := func(backend string) (string, func(), error) {
		srv := ingress.NewServer(ingress.Handler(table, func(string) (string, bool) { return backend, true }, discardLogger()), ingress.Timeouts{}, discardLogger())
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		go func() { _ = srv.Serve(ln) }()
		return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
	}
	via, stopVia, err := front(bl.Addr().String())
	if err != nil {
		return nil, err
	}
	defer stopVia()
	path, stopPath, err := front(lb.Addr())
	if err != nil {
		return nil, err
	}
	defer stopPath()

	get := func(base string, conc int) Op {
		c := newClient(base, conc)
		return func(ctx context.Context, w int) error {
			return c.call(ctx, http.MethodGet, "/api/users/currentuser", "", nil, http.StatusOK, nil)
		}
	}
	direct := "http://" + bl.Addr().String()
	conc, d := s.opt.Concurrency, s.opt.Duration
	return map[string]Result{
		"bare":            Run(ctx, "ceiling: bare Go handler, direct", conc, d, get(direct, conc)),
		"bare-ingress":    Run(ctx, "ceiling: bare Go handler behind the ingress", conc, d, get(via, conc)),
		"bare-balancer":   Run(ctx, "ceiling: bare Go handler behind the ingress and a balancer (an API request's path)", conc, d, get(path, conc)),
		"bare-1":          Run(ctx, "bare Go handler, direct, 1 client", 1, d/3, get(direct, 1)),
		"bare-ingress-1":  Run(ctx, "bare Go handler behind the ingress, 1 client", 1, d/3, get(via, 1)),
		"bare-balancer-1": Run(ctx, "bare Go handler behind the ingress and a balancer, 1 client", 1, d/3, get(path, 1)),
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
