package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// mixedOps are the steps of the mixed scenario, each reported on its own.
var mixedOps = []string{"signup", "signin", "currentuser", "create", "get", "order", "pay"}

// placed is an order the mixed scenario made, and what its payment answered.
type placed struct {
	orderID, ticketID, buyer string
	paid                     bool // the payment answered 201
}

// Mixed runs every kind of request at once from conc clients for the run's
// duration: each client signs up and in now and then, and otherwise lists a
// ticket, reads it, has another user order it and pay. It reports each
// step, the whole, and how many answers were 5xx, then checks that every
// service agrees on every order it made.
func (s *Suite) Mixed(ctx context.Context, r *Report, conc int, suffix string) error {
	name := fmt.Sprintf("mixed, %d clients", conc) + suffix
	if !strings.Contains(name, s.opt.Only) {
		return nil
	}
	var mu sync.Mutex
	lat := map[string][]time.Duration{}
	errs := map[string]int{}
	first := map[string]error{}
	var fivexx int
	var orders []placed
	note := func(op string, d time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		lat[op] = append(lat[op], d)
		if err != nil {
			errs[op]++
			if first[op] == nil {
				first[op] = err
			}
			var se *statusError
			if !errors.As(err, &se) || se.status >= 500 {
				fivexx++ // a 5xx, or no answer at all
			}
		}
	}
	step := func(ctx context.Context, op string, f func() error) error {
		t := time.Now()
		err := f()
		if ctx.Err() == nil {
			note(op, time.Since(t), err)
		}
		return err
	}
	run, cancel := context.WithTimeout(ctx, s.opt.Duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			seller, buyer := s.user(w), s.user(w+1)
			for i := 0; run.Err() == nil; i++ {
				if (i+w)%10 == 9 { // spread over the clients: bcrypt is the heaviest step
					email := fmt.Sprintf("mixed-%d-%d@bench.test", time.Now().UnixNano(), s.seq.Add(1))
					var cookie string
					if step(run, "signup", func() (err error) { cookie, err = s.c.signup(run, email); return err }) == nil {
						seller = cookie
					}
					_ = step(run, "signin", func() error { _, err := s.c.signin(run, email); return err })
				}
				_ = step(run, "currentuser", func() error {
					return s.c.call(run, http.MethodGet, "/api/users/currentuser", seller, nil, http.StatusOK, nil)
				})
				var t, o idBody
				if step(run, "create", func() error {
					return s.c.call(run, http.MethodPost, "/api/tickets", seller, map[string]any{"title": "Mixed ticket", "price": "12.50"}, http.StatusCreated, &t)
				}) != nil {
					continue
				}
				_ = step(run, "get", func() error {
					return s.c.call(run, http.MethodGet, "/api/tickets/"+t.ID, "", nil, http.StatusOK, nil)
				})
				if step(run, "order", func() error {
					return until(run, 10*time.Second, 2*time.Millisecond, func() error {
						return s.c.call(run, http.MethodPost, "/api/orders", buyer, map[string]string{"ticketId": t.ID}, http.StatusCreated, &o)
					})
				}) != nil {
					continue
				}
				p := placed{orderID: o.ID, ticketID: t.ID, buyer: buyer}
				p.paid = step(run, "pay", func() error {
					// 404 while payments has not learnt of the order yet.
					return until(run, 10*time.Second, 2*time.Millisecond, func() error {
						return s.c.call(run, http.MethodPost, "/api/payments", buyer, map[string]string{"token": "tok_visa", "orderId": o.ID}, http.StatusCreated, nil)
					})
				}) == nil
				mu.Lock()
				orders = append(orders, p)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	var all []time.Duration
	total, totalErrs := 0, 0
	var firstAll error
	for _, op := range mixedOps {
		res := Samples(name+": "+op, lat[op], 0, first[op], d)
		res.Errors, res.Ops = errs[op], len(lat[op])
		res.Concurrency = conc
		r.Results = append(r.Results, res)
		all = append(all, lat[op]...)
		total += len(lat[op])
		totalErrs += errs[op]
		if firstAll == nil {
			firstAll = first[op]
		}
	}
	whole := Samples(name, all, 0, firstAll, d)
	whole.Ops, whole.Errors, whole.Concurrency, whole.ServerErrors = total, totalErrs, conc, fivexx
	r.Results = append(r.Results, whole)
	s.opt.Log("%s (5xx or no answer: %d)", whole, fivexx)

	c, err := s.checkConsistency(ctx, orders, 5*time.Second)
	if err != nil {
		return err
	}
	r.Consistency = c
	s.opt.Log("consistency: %s", c)
	return nil
}

// Consistency is what the check after the mixed scenario found.
type Consistency struct {
	Orders       int
	Paid         int           // payments answered 201
	Inconsistent int           // orders the services disagreed on 5 s after the load
	Agreed       bool          // every order agreed in the end (within a minute)
	Settled      time.Duration // from the load's end to the last agreement found
	Example      string        // one disagreement, if any
}

func (c Consistency) String() string {
	out := fmt.Sprintf("%d orders (%d paid): %d inconsistent 5 s after the load stopped", c.Orders, c.Paid, c.Inconsistent)
	if c.Inconsistent > 0 {
		if c.Agreed {
			out += fmt.Sprintf(", all agreeing %s after it", c.Settled.Round(100*time.Millisecond))
		} else {
			out += ", still disagreeing after a minute"
		}
	}
	return out
}

// checkConsistency waits until within has passed since the load stopped,
// then reads every order from the orders API, its ticket from the tickets
// API and its payment from the payments database, and counts those the
// services disagree on (the target: none); it then rereads those until
// they agree (up to a minute) to report when they did:
//   - a payment answered 201 ⇒ the order is complete;
//   - the order is complete ⇔ its payment succeeded (never refunded);
//   - the ticket names the order exactly while the order is open or complete;
//   - a cancelled order has no succeeded payment (refunded, or none).
func (s *Suite) checkConsistency(ctx context.Context, orders []placed, within time.Duration) (*Consistency, error) {
	stopped := time.Now()
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(s.st.MongoURIOf("payments")))
	if err != nil {
		return nil, err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	payments := client.Database("payments").Collection("payments")
	c := &Consistency{Orders: len(orders)}
	for _, o := range orders {
		if o.paid {
			c.Paid++
		}
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(stopped.Add(within))):
	}
	pending := orders
	for pass := 0; ; pass++ {
		var still []placed
		for _, o := range pending {
			problem, err := s.disagreement(ctx, payments, o)
			if err != nil {
				return nil, err
			}
			if problem != "" {
				still = append(still, o)
				if c.Example == "" {
					c.Example = problem
				}
			}
		}
		if pass == 0 {
			c.Inconsistent = len(still)
		}
		pending = still
		if len(pending) == 0 || time.Since(stopped) > time.Minute {
			c.Agreed = len(pending) == 0
			c.Settled = time.Since(stopped)
			return c, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// disagreement says what the services disagree on about o, or "".
func (s *Suite) disagreement(ctx context.Context, payments *mongo.Collection, o placed) (string, error) {
	var ord idBody
	if err := s.c.call(ctx, http.MethodGet, "/api/orders/"+o.orderID, o.buyer, nil, http.StatusOK, &ord); err != nil {
		return "", err
	}
	var t idBody
	if err := s.c.call(ctx, http.MethodGet, "/api/tickets/"+o.ticketID, "", nil, http.StatusOK, &t); err != nil {
		return "", err
	}
	oid, _ := primitive.ObjectIDFromHex(o.orderID)
	// An order's attempts are numbered slots; its payment is the one that
	// charged (declined and closed ones charged nothing).
	cur, err := payments.Find(ctx, bson.D{{Key: "orderId", Value: oid}})
	if err != nil {
		return "", err
	}
	var attempts []struct {
		Status   string `bson:"status"`
		StripeID string `bson:"stripeId"`
	}
	if err := cur.All(ctx, &attempts); err != nil {
		return "", err
	}
	var pay struct{ Status string }
	for _, a := range attempts {
		if a.StripeID != "" {
			pay.Status = a.Status
		}
	}
	succeeded := pay.Status == "succeeded"
	switch {
	case o.paid && ord.Status != "complete":
		return fmt.Sprintf("order %s: payment answered 201, order is %s", o.orderID, ord.Status), nil
	case (ord.Status == "complete") != succeeded:
		return fmt.Sprintf("order %s is %s, its payment %q", o.orderID, ord.Status, pay.Status), nil
	case ord.Status != "cancelled" && t.OrderID != o.orderID:
		return fmt.Sprintf("order %s is %s, its ticket names order %q", o.orderID, ord.Status, t.OrderID), nil
	case ord.Status == "cancelled" && t.OrderID == o.orderID:
		return fmt.Sprintf("order %s is cancelled, its ticket still names it", o.orderID), nil
	}
	return "", nil
}
