package outbox

import (
	"cmp"
	"context"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/events"
)

// Relay publishes pending records' events: right after their writer
// commits them (handed over in-process), and by a sweep for what a failed
// publish or a crashed process left. An aggregate's events go out in
// version order: a version is published only once its predecessor is, by
// whichever process wrote it. Delivery is at least once.
type Relay struct {
	log    *Log
	bus    events.Bus
	queues []chan Record
	sentMu sync.Mutex
	sent   map[string]int64 // aggregate → last version known published
}

const (
	relayWorkers = 16
	queueLen     = 1024
	sentKept     = 100_000
	// publishTimeout bounds one publish; a slow bus leaves the rest to
	// the sweep.
	publishTimeout = 5 * time.Second
	// handoff is how long a worker waits for another process to publish a
	// predecessor before leaving the record to the sweep.
	handoff = 1500 * time.Millisecond
	// sweepAge: records younger than this are their writer's to publish.
	sweepAge = 2 * time.Second
)

func newRelay(l *Log, bus events.Bus) *Relay {
	r := &Relay{log: l, bus: bus, sent: map[string]int64{}}
	for range relayWorkers {
		r.queues = append(r.queues, make(chan Record, queueLen))
	}
	return r
}

// enqueue hands a committed record to its aggregate's worker; when the
// queue is full (the bus is stuck) the sweep publishes it later.
func (r *Relay) enqueue(rec Record) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(rec.Aggregate))
	select {
	case r.queues[h.Sum32()%uint32(len(r.queues))] <- rec:
	default:
	}
}

// Run publishes until ctx is done, sweeping every interval; it returns
// once its workers have stopped.
func (l *Log) Run(ctx context.Context, interval time.Duration) {
	r := l.relay
	if r.bus == nil {
		<-ctx.Done()
		return
	}
	var wg sync.WaitGroup
	for _, q := range r.queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.work(ctx, q)
		}()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := l.Sweep(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("outbox sweep failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-t.C:
		}
	}
}

// work publishes one queue's records; a record whose predecessor is not
// published yet waits (another process may be publishing it) for up to
// handoff, then is left to the sweep.
func (r *Relay) work(ctx context.Context, q chan Record) {
	var waiting []Record
	for {
		// Recheck waiting records every few ms; with none, sleep until
		// the next record arrives.
		var recheck <-chan time.Time
		if len(waiting) > 0 {
			recheck = time.After(5 * time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return
		case rec := <-q:
			waiting = append(waiting, rec)
		case <-recheck:
		}
		// Lowest versions first, so a predecessor queued after its
		// successor goes out before it.
		slices.SortFunc(waiting, byAggregateVersion)
		kept := waiting[:0]
		for _, rec := range waiting {
			ready, err := r.predecessorPublished(ctx, rec)
			switch {
			case err != nil || (!ready && r.log.now().Sub(rec.At) > handoff):
				// Left to the sweep.
			case !ready:
				kept = append(kept, rec)
			default:
				_ = r.publish(ctx, rec)
			}
		}
		waiting = kept
	}
}

// byAggregateVersion orders records by aggregate, then version.
func byAggregateVersion(a, b Record) int {
	if c := strings.Compare(a.Aggregate, b.Aggregate); c != 0 {
		return c
	}
	return cmp.Compare(a.Version, b.Version)
}

// predecessorPublished reports whether rec's previous version has gone
// out (or never needed to).
func (r *Relay) predecessorPublished(ctx context.Context, rec Record) (bool, error) {
	if rec.Version == 0 || rec.First || r.knownSent(rec.Aggregate, rec.Version-1) {
		return true, nil
	}
	prev, found, err := r.log.record(ctx, recordKey(rec.Aggregate, rec.Version-1))
	if err != nil {
		return false, err
	}
	// No record: written before records existed, or by a replica apply.
	return !found || !prev.Pending, nil
}

func (r *Relay) knownSent(aggregate string, version int64) bool {
	r.sentMu.Lock()
	defer r.sentMu.Unlock()
	v, ok := r.sent[aggregate]
	return ok && v >= version
}

func (r *Relay) remember(aggregate string, version int64) {
	r.sentMu.Lock()
	defer r.sentMu.Unlock()
	if len(r.sent) >= sentKept {
		clear(r.sent) // a forgotten entry only costs one lookup
	}
	if v, ok := r.sent[aggregate]; !ok || v < version {
		r.sent[aggregate] = version
	}
}

// msgID names the record's event for the bus's deduplication: the
// event's own id (events.ID), so that whichever process relays it, and
// however often, JetStream stores it once.
func msgID(rec Record) string {
	if id, err := events.IDOf(rec.Subject, rec.Data); err == nil {
		return id
	}
	return "record/" + rec.Key // an event this build cannot decode: still one id per record
}

// publish sends the record's event and marks it published.
func (r *Relay) publish(ctx context.Context, rec Record) error {
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	start := time.Now()
	err := events.PublishData(pctx, r.bus, rec.Subject, msgID(rec), rec.Data)
	cancel()
	if err != nil {
		r.log.log.Warn("event left pending for the sweep", "record", rec.Key, "err", err)
		r.log.observer.PublishFailed(rec.Subject)
		return err
	}
	r.log.observer.Published(rec.Subject, time.Since(start), r.log.now().Sub(rec.At))
	_, err = r.log.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: rec.Key}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "pending", Value: false}}}, {Key: "$unset", Value: bson.D{{Key: "state", Value: ""}}}})
	if err != nil {
		r.log.log.Warn("published event not marked; it may be published again", "record", rec.Key, "err", err)
		return err
	}
	r.remember(rec.Aggregate, rec.Version)
	return nil
}

// Sweep publishes, in version order per aggregate, every pending record
// older than sweepAge, first rolling forward those whose writer died
// before writing the document (claimed more than Grace ago).
func (l *Log) Sweep(ctx context.Context) error {
	// Under load most pending records are younger than sweepAge, their
	// writers' to publish: list them without their state and event, and
	// read in full only those the sweep takes over.
	cur, err := l.coll.Find(ctx, bson.D{{Key: "pending", Value: true}},
		options.Find().SetProjection(bson.D{{Key: "state", Value: 0}, {Key: "data", Value: 0}}))
	if err != nil {
		return err
	}
	var recs []Record
	if err := cur.All(ctx, &recs); err != nil {
		return err
	}
	l.backlog(recs)
	slices.SortFunc(recs, byAggregateVersion)
	blocked := ""
	for _, head := range recs {
		if head.Aggregate == blocked || l.now().Sub(head.At) < sweepAge {
			blocked = head.Aggregate // later versions wait for this one
			continue
		}
		rec, found, err := l.record(ctx, head.Key)
		if err != nil {
			blocked = head.Aggregate
			continue
		}
		if !found || !rec.Pending {
			continue // published since the listing
		}
		if err := l.settleForSweep(ctx, rec); err != nil {
			blocked = rec.Aggregate
			continue
		}
		if ok, err := l.relay.predecessorPublished(ctx, rec); err != nil || !ok {
			blocked = rec.Aggregate
			continue
		}
		if err := l.relay.publish(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

// settleForSweep makes sure the record's document is written: done by its
// writer, or rolled forward here once the writer is past Grace.
func (l *Log) settleForSweep(ctx context.Context, rec Record) error {
	kind, hexID, _ := strings.Cut(rec.Aggregate, "/")
	a, ok := l.kinds[kind]
	if !ok {
		return ErrNotFound
	}
	id, err := primitive.ObjectIDFromHex(hexID)
	if err != nil {
		return err
	}
	stored, found, err := a.storedVersion(ctx, id)
	if err != nil || (found && stored >= rec.Version) {
		return err
	}
	if l.now().Sub(rec.At) < l.grace || rec.State == nil {
		return ErrNotYet
	}
	return a.settle(ctx, rec)
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
