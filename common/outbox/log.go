// Package outbox makes a service's writes safe with several processes on an
// engine without transactions or atomic updates (FerretDB: every update is
// read-modify-write), and makes "store the change, then publish its event"
// lossless.
//
// Every new version of an aggregate (a ticket, an order, a replica of one)
// is first claimed by inserting a Record whose _id is "<kind>/<id>/<version>".
// That insert under the unique _id is atomic on every engine, so of two
// writers that read the same version exactly one may write the next; the
// other gets ErrConflict and reads again. The record holds the aggregate's
// new state (so a crash between the claim and the document write is rolled
// forward) and the event that announces it, pending until the Relay has
// published it — in version order per aggregate, whichever process wrote it.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/events"
)

// Collection holds the records of a service's database.
const Collection = "versions"

var (
	// ErrConflict: another writer claimed this version first.
	ErrConflict = errors.New("version already claimed by another writer")
	// ErrNotYet: a replica version arrived before its predecessor.
	ErrNotYet = errors.New("predecessor version not applied yet")
	// ErrInProgress: another process is applying this replica version now.
	ErrInProgress = errors.New("version being applied by another process")
	// ErrNotFound: no document with that id.
	ErrNotFound = errors.New("not found")
)

// Record is one claimed version of one aggregate.
type Record struct {
	Key       string         `bson:"_id"`
	Aggregate string         `bson:"aggregate"` // "<kind>/<hex id>"
	Version   int64          `bson:"version"`
	Subject   events.Subject `bson:"subject,omitempty"`
	Data      []byte         `bson:"data,omitempty"`
	// State is the aggregate's document at Version, until it is published.
	State bson.Raw `bson:"state,omitempty"`
	// Pending: the event is not published yet (own aggregates only).
	Pending bool      `bson:"pending"`
	At      time.Time `bson:"at"`
	// First: the aggregate's first event; no earlier version has one.
	First bool `bson:"first,omitempty"`
}

func recordKey(aggregate string, version int64) string {
	return fmt.Sprintf("%s/%d", aggregate, version)
}

// Grace is how long a claimed version may stay unwritten before another
// process takes the writer to have crashed and rolls it forward. It is far
// longer than a write takes, so a slow writer and a roll-forward never race.
const Grace = 10 * time.Second

// Log is a service's record collection and its relay.
type Log struct {
	coll  *mongo.Collection
	relay *Relay
	kinds map[string]*Aggregates
	log   *slog.Logger
	now   func() time.Time
	grace time.Duration
	// observer learns of publishes and the backlog (see Observe).
	observer Observer
}

// NewLog keeps records in db's Collection and publishes their events on
// bus (nil for a service that publishes nothing).
func NewLog(db *mongo.Database, bus events.Bus, log *slog.Logger) *Log {
	l := &Log{coll: db.Collection(Collection), kinds: map[string]*Aggregates{}, log: log, now: time.Now, grace: Grace, observer: nopObserver{}}
	l.relay = newRelay(l, bus)
	return l
}

// EnsureIndexes creates the index the relay's sweep looks pending records
// up by.
func (l *Log) EnsureIndexes(ctx context.Context) error {
	_, err := l.coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "pending", Value: 1}}})
	if err != nil {
		return fmt.Errorf("creating %s index: %w", Collection, err)
	}
	return nil
}

// Aggregates is one kind of aggregate whose documents live in docs; each
// document carries its `version`.
type Aggregates struct {
	log  *Log
	kind string
	docs *mongo.Collection
	// firstEvent is the first version that has a record: earlier ones
	// were written without one (a claim inserted under a unique index of
	// its own, such as a payment's).
	firstEvent int64
}

// EventsFrom says that versions before v were written without a record,
// so the relay does not look for their events before publishing v's.
func (a *Aggregates) EventsFrom(v int64) *Aggregates {
	a.firstEvent = v
	return a
}

// Aggregates registers a kind (its records are "<kind>/<id>/<version>").
func (l *Log) Aggregates(kind string, docs *mongo.Collection) *Aggregates {
	a := &Aggregates{log: l, kind: kind, docs: docs}
	l.kinds[kind] = a
	return a
}

func (a *Aggregates) aggregate(id primitive.ObjectID) string { return a.kind + "/" + id.Hex() }

// Get decodes the document with id into out, or returns ErrNotFound.
func (a *Aggregates) Get(ctx context.Context, id primitive.ObjectID, out any) error {
	err := a.docs.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(out)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("reading %s %s: %w", a.kind, id.Hex(), err)
	}
	return nil
}

// storedVersion is the version of the stored document; found is false when
// there is none.
func (a *Aggregates) storedVersion(ctx context.Context, id primitive.ObjectID) (v int64, found bool, err error) {
	var doc struct {
		Version int64 `bson:"version"`
	}
	err = a.docs.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(bson.D{{Key: "version", Value: 1}})).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading %s %s: %w", a.kind, id.Hex(), err)
	}
	return doc.Version, true, nil
}

// Commit claims version of aggregate id and writes doc (its whole document
// at that version, with _id and version) as it; ErrConflict when the
// version was claimed already. ev, if not nil, is published by the relay
// once every earlier version's event is.
func (a *Aggregates) Commit(ctx context.Context, id primitive.ObjectID, version int64, doc any, ev events.Event) error {
	state, err := bson.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encoding %s %s: %w", a.kind, id.Hex(), err)
	}
	if v, ok := bson.Raw(state).Lookup("version").Int64OK(); !ok || v != version {
		return fmt.Errorf("%s %s: the document's version must be %d (an int64)", a.kind, id.Hex(), version)
	}
	agg := a.aggregate(id)
	rec := Record{Key: recordKey(agg, version), Aggregate: agg, Version: version, State: state, At: a.log.now()}
	if ev != nil {
		data, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", ev.Subject(), err)
		}
		rec.Subject, rec.Data, rec.Pending, rec.First = ev.Subject(), data, true, version == a.firstEvent
	}
	if _, err := a.log.coll.InsertOne(ctx, rec); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return ErrConflict
		}
		return fmt.Errorf("claiming %s: %w", rec.Key, err)
	}
	if err := a.settle(ctx, rec); err != nil {
		// The version is ours and recorded: the sweep (or the next
		// writer) rolls it forward after Grace.
		return fmt.Errorf("writing %s (claimed; it will be applied later): %w", rec.Key, err)
	}
	if rec.Pending {
		a.log.relay.enqueue(rec)
	}
	return nil
}

// settle writes the record's state unless the document is at its version
// (or later) already.
func (a *Aggregates) settle(ctx context.Context, rec Record) error {
	var id struct {
		ID primitive.ObjectID `bson:"_id"`
	}
	if err := bson.Unmarshal(rec.State, &id); err != nil {
		return fmt.Errorf("decoding %s: %w", rec.Key, err)
	}
	if rec.Version == 0 {
		_, err := a.docs.InsertOne(ctx, rec.State)
		if err != nil && !mongo.IsDuplicateKeyError(err) {
			return err
		}
		return nil
	}
	res, err := a.docs.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id.ID}, {Key: "version", Value: rec.Version - 1}}, rec.State)
	if err != nil {
		return err
	}
	if res.MatchedCount == 1 {
		return nil
	}
	stored, found, err := a.storedVersion(ctx, id.ID)
	if err != nil {
		return err
	}
	if found && stored >= rec.Version {
		return nil
	}
	return fmt.Errorf("%w: %s is at version %d, not %d", ErrNotYet, a.aggregate(id.ID), stored, rec.Version-1)
}

// record reads one record; found is false when there is none.
func (l *Log) record(ctx context.Context, key string) (Record, bool, error) {
	var r Record
	err := l.coll.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&r)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("reading record %s: %w", key, err)
	}
	return r, true, nil
}

// recoverClaim rolls forward the record of a version whose writer seems to
// have died (claimed more than Grace ago, document still behind); it
// reports whether it did.
func (a *Aggregates) recoverClaim(ctx context.Context, id primitive.ObjectID, version int64) (bool, error) {
	rec, found, err := a.log.record(ctx, recordKey(a.aggregate(id), version))
	if err != nil || !found || a.log.now().Sub(rec.At) < a.log.grace || rec.State == nil {
		return false, err
	}
	if err := a.settle(ctx, rec); err != nil {
		return false, err
	}
	if rec.Pending {
		a.log.relay.enqueue(rec)
	}
	return true, nil
}

// Apply stores a replica's document at version, as its source published
// it: once, and only right after its predecessor. An older version is
// already applied (nil); a newer one is ErrNotYet, so its event is
// redelivered after the missing one.
func (a *Aggregates) Apply(ctx context.Context, id primitive.ObjectID, version int64, doc any) error {
	stored, found, err := a.storedVersion(ctx, id)
	switch {
	case err != nil:
		return err
	case found && stored >= version:
		return nil
	case (!found && version > 0) || (found && stored < version-1):
		return fmt.Errorf("%w: %s %s at %d, got %d", ErrNotYet, a.kind, id.Hex(), stored, version)
	}
	err = a.Commit(ctx, id, version, doc, nil)
	if !errors.Is(err, ErrConflict) {
		return err
	}
	if recovered, err := a.recoverClaim(ctx, id, version); recovered || err != nil {
		return err
	}
	return fmt.Errorf("%w: %s %s version %d", ErrInProgress, a.kind, id.Hex(), version)
}

// maxAttempts bounds how often Change re-reads after losing a race.
const maxAttempts = 30

// Change reads aggregate id into a T, lets change turn it into the next
// version (it is told that version, for the document and its event), and
// commits the result. A change that returns a nil event changes nothing;
// an error from change is returned as it is. Losing the claim to another
// writer re-reads and retries, so concurrent changes all apply, one by one.
func Change[T any](ctx context.Context, a *Aggregates, id primitive.ObjectID, version func(*T) int64, change func(doc *T, next int64) (events.Event, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		var doc T
		if err := a.Get(ctx, id, &doc); err != nil {
			return doc, err
		}
		next := version(&doc) + 1
		ev, err := change(&doc, next)
		if err != nil || ev == nil {
			return doc, err
		}
		err = a.Commit(ctx, id, next, doc, ev)
		if !errors.Is(err, ErrConflict) {
			return doc, err
		}
		if attempt == maxAttempts {
			return doc, err
		}
		if _, err := a.recoverClaim(ctx, id, next); err != nil {
			return doc, err
		}
		// The winner writes its document within milliseconds.
		select {
		case <-ctx.Done():
			return doc, ctx.Err()
		case <-time.After(time.Duration(attempt) * time.Duration(500+rand.IntN(1500)) * time.Microsecond):
		}
	}
}

// Claimed reports whether version of aggregate id has been claimed, even
// if its document is not written yet.
func (a *Aggregates) Claimed(ctx context.Context, id primitive.ObjectID, version int64) (bool, error) {
	_, found, err := a.log.record(ctx, recordKey(a.aggregate(id), version))
	return found, err
}
