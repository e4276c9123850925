// Package outbox makes "store the change, then publish its event" lossless
// without transactions (FerretDB has none): the event is written into the
// very document it describes, in the same single-document write, and a
// Relay publishes it afterwards and then removes it. A crash or a bus outage
// between the two steps leaves the event in the document, where the Relay's
// sweep finds it. Delivery is at least once; listeners already drop events
// they have applied (DESIGN §3).
//
// A document using the outbox has a field `outbox` holding []Entry; the
// writer appends with {"$push": {"outbox": entry}} or includes it on insert.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/stan.go"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/events"
)

// Field is the document field holding pending entries.
const Field = "outbox"

// Entry is an event waiting to be published.
type Entry struct {
	Subject events.Subject `bson:"subject"`
	Data    []byte         `bson:"data"`
}

// NewEntry encodes e for storing; typed, so subject and payload always match.
func NewEntry[E events.Event](e E) (Entry, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return Entry{}, fmt.Errorf("encoding %s: %w", e.Subject(), err)
	}
	return Entry{Subject: e.Subject(), Data: data}, nil
}

// Locks serialises writes to one document within this process. FerretDB's
// conditional updates are not atomic under concurrency (DESIGN §6), so a
// service holds the document's lock around read-check-write and around
// publishing its outbox; the version filter still guards other replicas on a
// real MongoDB.
type Locks struct {
	stripes [64]sync.Mutex
}

// Lock locks the stripe of id and returns its unlock.
func (l *Locks) Lock(id primitive.ObjectID) (unlock func()) {
	h := fnv.New32a()
	_, _ = h.Write(id[:])
	m := &l.stripes[h.Sum32()%uint32(len(l.stripes))]
	m.Lock()
	return m.Unlock
}

// Relay publishes the outbox entries of one collection's documents.
type Relay struct {
	coll  *mongo.Collection
	conn  stan.Conn
	locks *Locks
	log   *slog.Logger
	// dirty is set when a flush failed: only then is a sweep (a scan of the
	// whole collection on FerretDB) needed before the next safety-net sweep.
	dirty atomic.Bool
}

// NewRelay returns a relay for coll, sharing the writers' locks.
func NewRelay(coll *mongo.Collection, conn stan.Conn, locks *Locks, log *slog.Logger) *Relay {
	return &Relay{coll: coll, conn: conn, locks: locks, log: log}
}

// publishTimeout bounds one publish; a slow bus leaves the rest to the sweep.
const publishTimeout = 5 * time.Second

// Flush publishes the document's pending entries in order, removing each
// once the bus has stored it. A failure leaves them for the next sweep.
func (r *Relay) Flush(ctx context.Context, id primitive.ObjectID) (err error) {
	defer func() {
		if err != nil {
			r.dirty.Store(true)
		}
	}()
	unlock := r.locks.Lock(id)
	defer unlock()
	var doc struct {
		Outbox []Entry `bson:"outbox"`
	}
	err = r.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(bson.D{{Key: Field, Value: 1}})).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading outbox of %s: %w", id.Hex(), err)
	}
	for _, e := range doc.Outbox {
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		err := events.PublishData(pctx, r.conn, e.Subject, e.Data)
		cancel()
		if err != nil {
			return err
		}
		// Pop the first entry: the one just published (writers append only).
		if _, err := r.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$pop", Value: bson.D{{Key: Field, Value: -1}}}}); err != nil {
			return fmt.Errorf("clearing outbox of %s: %w", id.Hex(), err)
		}
	}
	return nil
}

// FlushLogged flushes and logs a failure instead of returning it: for the
// request path, where the change is stored and the sweep will publish later.
func (r *Relay) FlushLogged(ctx context.Context, id primitive.ObjectID) {
	if err := r.Flush(context.WithoutCancel(ctx), id); err != nil {
		r.log.Warn("event kept in outbox for the next sweep", "id", id.Hex(), "err", err)
	}
}

// Sweep flushes every document that has pending entries.
func (r *Relay) Sweep(ctx context.Context) error {
	cur, err := r.coll.Find(ctx, bson.D{{Key: Field + ".0", Value: bson.D{{Key: "$exists", Value: true}}}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return fmt.Errorf("finding pending outboxes: %w", err)
	}
	var ids []struct {
		ID primitive.ObjectID `bson:"_id"`
	}
	if err := cur.All(ctx, &ids); err != nil {
		return fmt.Errorf("finding pending outboxes: %w", err)
	}
	for _, d := range ids {
		if err := r.Flush(ctx, d.ID); err != nil {
			return err
		}
	}
	return nil
}

// safetyNetEvery is how many intervals may pass without a sweep when no
// flush failed (a crash between a write and its flush leaves no trace in
// this process, so the sweep still runs now and then).
const safetyNetEvery = 12

// Run sweeps at start, then every interval after a flush failed, and every
// safetyNetEvery intervals anyway, until ctx is done.
func (r *Relay) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for tick := 0; ; tick++ {
		if tick%safetyNetEvery == 0 || r.dirty.Swap(false) {
			if err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
				r.dirty.Store(true)
				r.log.Warn("outbox sweep failed; retrying", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
