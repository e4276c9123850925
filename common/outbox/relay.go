package outbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/events"
)

// Relay publishes records' events: each writer publishes its own before
// writing its document (Commit), and the relay marks them published in
// bulk, a few seconds' worth at a time. Its sweep also publishes what a
// crashed writer or a failed publish left, in version order per aggregate.
// Delivery is at least once.
type Relay struct {
	log *Log
	bus events.Bus
	// marks are the records published and not marked yet, since oldest.
	markMu sync.Mutex
	marks  []mark
	oldest time.Time
}

// mark is a published record to mark: in coll, and dropped rather than
// kept when it is no claim (a first version's own record: its document's
// id is the claim).
type mark struct {
	coll *mongo.Collection
	key  string
	drop bool
}

const (
	// publishTimeout bounds one publish; a slow bus leaves the rest to
	// the sweep.
	publishTimeout = 5 * time.Second
	// markAfter and markBatch: a process marks what it published once the
	// oldest is this old, or once there are this many, whichever comes
	// first: one command for many records.
	markAfter = 5 * time.Second
	markBatch = 256
	// listEvery is how often the sweep lists the pending records, for what
	// a crashed writer or a failed publish left (rolled forward after
	// Grace anyway).
	listEvery = 5 * time.Second
	// sweepAge: records younger than this are their writer's to publish
	// and mark (a held publish, WriteDeadline at most, then markAfter), so
	// the sweep does not republish what a writer is still holding through
	// a bus election.
	sweepAge = WriteDeadline + markAfter
	// settleReserve is the part of WriteDeadline a held publish leaves
	// for writing the document.
	settleReserve = 2 * time.Second
	// markTimeout bounds the marks a stopping relay makes.
	markTimeout = 2 * time.Second
)

func newRelay(l *Log, bus events.Bus) *Relay {
	return &Relay{log: l, bus: bus}
}

// publishes reports whether the relay has a bus to publish on.
func (r *Relay) publishes() bool { return r.bus != nil }

// msgID names the record's event for the bus's deduplication: the
// event's own id (events.ID), so that whichever process relays it, and
// however often, JetStream stores it once.
func msgID(rec Record) string {
	if id, err := events.IDOf(rec.Subject, rec.Data); err == nil {
		return id
	}
	return "record/" + rec.Key // an event this build cannot decode: still one id per record
}

// publish sends the record's event, within publishTimeout: the sweep's
// publish, which a slow bus leaves to the next sweep.
func (r *Relay) publish(ctx context.Context, rec Record) error {
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	return r.send(pctx, rec)
}

// hold publishes a writer's claimed record, trying again until ctx's
// deadline less settleReserve: a bus without a leader for a few seconds
// (a JetStream election) delays the writer's answer instead of failing it.
func (r *Relay) hold(ctx context.Context, rec Record) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(WriteDeadline)
	}
	hctx, cancel := context.WithDeadline(ctx, deadline.Add(-settleReserve))
	defer cancel()
	return r.send(hctx, rec)
}

// send publishes the record's event until ctx ends (the bus tries again
// within it).
func (r *Relay) send(ctx context.Context, rec Record) error {
	start := time.Now()
	if err := events.PublishData(ctx, r.bus, rec.Subject, msgID(rec), rec.Data); err != nil {
		r.log.log.Warn("event not published; the sweep publishes it", "record", rec.Key, "after", time.Since(start).Round(time.Millisecond), "err", err)
		r.log.observer.PublishFailed(rec.Subject)
		return err
	}
	r.log.observer.Published(rec.Subject, time.Since(start), r.log.now().Sub(rec.At))
	return nil
}

// markLater queues a published record of coll to be marked with others.
func (r *Relay) markLater(coll *mongo.Collection, key string, drop bool) {
	r.markMu.Lock()
	defer r.markMu.Unlock()
	if len(r.marks) == 0 {
		r.oldest = r.log.now()
	}
	r.marks = append(r.marks, mark{coll: coll, key: key, drop: drop})
}

// markDue marks the queued records if the oldest has waited markAfter or
// there are markBatch of them.
func (r *Relay) markDue(ctx context.Context) error {
	r.markMu.Lock()
	due := len(r.marks) >= markBatch || (len(r.marks) > 0 && r.log.now().Sub(r.oldest) >= markAfter)
	r.markMu.Unlock()
	if !due {
		return nil
	}
	return r.mark(ctx)
}

// mark marks the queued records published, and drops their state (the
// document is written), in one command per collection; a first version's
// own record is deleted instead. On failure they stay queued.
func (r *Relay) mark(ctx context.Context) error {
	r.markMu.Lock()
	marks, oldest := r.marks, r.oldest
	r.marks = nil
	r.markMu.Unlock()
	type group struct {
		coll *mongo.Collection
		drop bool
	}
	keys := map[group][]string{}
	var order []group
	for _, m := range marks {
		g := group{m.coll, m.drop}
		if _, ok := keys[g]; !ok {
			order = append(order, g)
		}
		keys[g] = append(keys[g], m.key)
	}
	var failed []mark
	var errs []error
	for _, g := range order {
		// The filter on pending is pushed down to the engine's index; the
		// keys are matched among the few records still pending.
		filter := bson.D{{Key: "pending", Value: true}, {Key: "_id", Value: bson.D{{Key: "$in", Value: keys[g]}}}}
		var err error
		if g.drop {
			_, err = g.coll.DeleteMany(ctx, filter)
		} else {
			_, err = g.coll.UpdateMany(ctx, filter,
				bson.D{{Key: "$set", Value: bson.D{{Key: "pending", Value: false}}}, {Key: "$unset", Value: bson.D{{Key: "state", Value: ""}}}})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("marking published records of %s: %w", g.coll.Name(), err))
			for _, k := range keys[g] {
				failed = append(failed, mark{coll: g.coll, key: k, drop: g.drop})
			}
		}
	}
	if len(failed) > 0 {
		r.markMu.Lock()
		r.marks, r.oldest = append(failed, r.marks...), oldest
		r.markMu.Unlock()
		r.log.log.Warn("published events not marked yet; retrying next sweep", "records", len(failed), "err", errors.Join(errs...))
	}
	return errors.Join(errs...)
}

// Run marks what this process published when due, checking every
// interval, and sweeps every listEvery, until ctx is done; it returns once
// it has stopped, having marked what this process published.
func (l *Log) Run(ctx context.Context, interval time.Duration) {
	if !l.relay.publishes() {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var swept time.Time
	for {
		var err error
		if time.Since(swept) >= listEvery {
			swept = time.Now()
			err = l.Sweep(ctx)
		} else {
			err = l.relay.markDue(ctx)
		}
		if err != nil && ctx.Err() == nil {
			l.log.Warn("outbox sweep failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
			_ = l.relay.mark(mctx)
			cancel()
			return
		case <-t.C:
		}
	}
}

// byAggregateVersion orders records by aggregate, then version.
func byAggregateVersion(a, b Record) int {
	if c := strings.Compare(a.Aggregate, b.Aggregate); c != 0 {
		return c
	}
	return cmp.Compare(a.Version, b.Version)
}

// Sweep marks what this process published, then publishes, in version
// order per aggregate, every pending record older than sweepAge: a written
// document means a published event (PublishFirst), so such a record is
// only marked; one whose writer died before writing is rolled forward
// once its claim is past Grace. A first version's record, kept with its
// document, is published again if it is still pending (its writer may
// have died between the two).
func (l *Log) Sweep(ctx context.Context) error {
	if err := l.relay.mark(ctx); err != nil {
		return err
	}
	var recs []Record
	from := map[string]*mongo.Collection{}
	for _, c := range l.collections() {
		// Under load most pending records are younger than sweepAge, their
		// writers' to mark: list them without their state and event, and
		// read in full only those the sweep takes over.
		cur, err := c.Find(ctx, bson.D{{Key: "pending", Value: true}},
			options.Find().SetProjection(bson.D{{Key: "state", Value: 0}, {Key: "data", Value: 0}}))
		if err != nil {
			return err
		}
		var some []Record
		if err := cur.All(ctx, &some); err != nil {
			return err
		}
		for _, r := range some {
			if l.now().Sub(r.At) >= sweepAge {
				recs = append(recs, r)
				from[r.Key] = c
			}
		}
	}
	l.backlog(recs)
	slices.SortFunc(recs, byAggregateVersion)
	blocked := ""
	for _, head := range recs {
		if head.Aggregate == blocked {
			continue // later versions wait for this one
		}
		rec, found, err := recordIn(ctx, from[head.Key], head.Key)
		if err != nil {
			blocked = head.Aggregate
			continue
		}
		if !found || !rec.Pending {
			continue // marked since the listing
		}
		if err := l.sweepOne(ctx, from[head.Key], rec); err != nil {
			blocked = rec.Aggregate
		}
	}
	return l.relay.mark(ctx)
}

// sweepOne makes sure a pending record's event is published and its
// document written, and queues its mark.
func (l *Log) sweepOne(ctx context.Context, coll *mongo.Collection, rec Record) error {
	kind, _, _ := strings.Cut(rec.Aggregate, "/")
	a, ok := l.kinds[kind]
	if !ok {
		return ErrNotFound
	}
	id, err := idOf(rec)
	if err != nil {
		return err
	}
	stored, found, err := a.storedVersion(ctx, id)
	if err != nil {
		return err
	}
	drop := coll != l.coll && rec.Key == recordKey(rec.Aggregate, 0)
	if found && stored >= rec.Version {
		// Written. A record that publishes first went out before; one
		// written first (a first version, a log without a bus, an older
		// writer) goes out now, perhaps again.
		if !rec.PublishFirst {
			if err := l.relay.publish(ctx, rec); err != nil {
				return err
			}
		}
		l.relay.markLater(coll, rec.Key, drop)
		return nil
	}
	if rec.Version == 0 && !found {
		// A first version's record without its document: its insert was
		// split. Finish it, once its writer is past Grace.
		if !l.stale(rec) {
			return ErrNotYet
		}
		return a.finishFirst(ctx, coll, rec)
	}
	if found && stored == rec.Version-1 {
		if rolled, err := a.rollForward(ctx, rec); err != nil || !rolled {
			return cmp.Or(err, ErrNotYet) // its writer's still, or another process's
		}
		return nil
	}
	return ErrNotYet // behind its predecessor, swept first
}

// Start runs the relay in the background until ctx is done or stop is
// called; stop returns once it has finished.
func (l *Log) Start(ctx context.Context, interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx, interval)
	}()
	return func() { cancel(); <-done }
}
