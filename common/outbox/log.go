// Package outbox makes a service's writes safe with several processes on an
// engine without transactions or atomic updates (FerretDB: every update is
// read-modify-write), and makes "store the change, then announce it"
// lossless.
//
// Every new version of an aggregate (a ticket, an order, a replica of one)
// is first claimed by inserting a Record whose _id is "<kind>/<id>/<version>".
// That insert under the unique _id is atomic on every engine (package
// claim), so of two writers that read the same version exactly one may
// write the next; the other gets ErrConflict and reads again. The record
// holds the aggregate's new state, so that a writer's crash after its
// claim is rolled forward, and the event that announces it.
//
// The writer publishes the event first and writes the document after: a
// document at a version means that version's event went out. The next
// version can only be claimed by a writer that read this one, so an
// aggregate's events go out in version order, whichever process wrote
// them, without a lookup. Records are marked published in bulk by the
// relay, whose sweep also rolls forward what a crashed writer left.
//
// A first version is cheaper: its record is inserted together with its
// document, in one command into the document's collection (see
// commitFirst), and its event published right after.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/claim"
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
	// State is the aggregate's document at Version, until it is published
	// (kept for good by a replica's records).
	State bson.Raw `bson:"state,omitempty"`
	// Patch, instead of State, is the fields a replica version sets
	// (ApplyPatch).
	Patch bson.Raw `bson:"patch,omitempty"`
	// Pending: the event is not marked published yet (own aggregates only).
	Pending bool      `bson:"pending"`
	At      time.Time `bson:"at"`
	// PublishFirst: the event goes out before the document is written, so
	// a written document means a published event. Records of a log that
	// publishes nothing, and those written before this rule, lack it: the
	// sweep publishes their events after the document.
	PublishFirst bool `bson:"publishFirst,omitempty"`
}

func recordKey(aggregate string, version int64) string {
	return fmt.Sprintf("%s/%d", aggregate, version)
}

// WriteDeadline bounds a writer's work after its claim: publishing the
// event, then writing the document. It runs even if the caller goes away,
// so that a claim is rarely left for the roll-forward. It outlasts a
// JetStream leader election (nats-server's election timeout is 4–9 s),
// during which the publish is held (Relay.hold) rather than failed.
const WriteDeadline = 12 * time.Second

// writeContext is a claim's holder's context for its work after the
// claim: it outlives the caller, and ends WriteDeadline after the claim's
// own time, the instant Grace counts from, so a slow claim insert leaves
// the holder less time rather than overlapping a roll-forward.
func writeContext(ctx context.Context, rec Record) (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.WithoutCancel(ctx), rec.At.Add(WriteDeadline))
}

// Grace is how long a claimed version may stay unwritten before another
// process takes the writer to have crashed and rolls it forward: the claim
// rule (claim.StaleAfter) for a writer working within WriteDeadline, so a
// slow writer and a roll-forward never race.
var Grace = claim.StaleAfter(WriteDeadline)

// Log is a service's record collection and its relay.
type Log struct {
	coll  *mongo.Collection
	relay *Relay
	kinds map[string]*Aggregates
	log   *slog.Logger
	now   func() time.Time
	grace time.Duration
	// takeovers elects the one process that rolls a crashed writer's
	// claim forward.
	takeovers *claim.Takeovers
	// observer learns of publishes and the backlog (see Observe).
	observer Observer
}

// NewLog keeps records in db's Collection and publishes their events on
// bus (nil for a service that publishes nothing).
func NewLog(db *mongo.Database, bus events.Bus, log *slog.Logger) *Log {
	l := &Log{coll: db.Collection(Collection), kinds: map[string]*Aggregates{}, log: log, now: time.Now, grace: Grace,
		takeovers: claim.NewTakeovers(db), observer: nopObserver{}}
	l.takeovers.SetClock(func() time.Time { return l.now() })
	l.relay = newRelay(l, bus)
	return l
}

// EnsureIndexes creates the index the relay's sweep looks pending records
// up by, in Collection and in the collection of every kind registered so
// far (their first versions' records).
func (l *Log) EnsureIndexes(ctx context.Context) error {
	for _, c := range l.collections() {
		_, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "pending", Value: 1}}})
		if err != nil {
			return fmt.Errorf("creating %s index: %w", c.Name(), err)
		}
	}
	return nil
}

// collections are Collection and every registered kind's, each once.
func (l *Log) collections() []*mongo.Collection {
	out := []*mongo.Collection{l.coll}
	seen := map[string]bool{l.coll.Name(): true}
	for _, kind := range slices.Sorted(maps.Keys(l.kinds)) {
		if c := l.kinds[kind].docs; !seen[c.Name()] {
			seen[c.Name()] = true
			out = append(out, c)
		}
	}
	return out
}

// Aggregates is one kind of aggregate whose documents live in docs; each
// document carries its `version`.
type Aggregates struct {
	log  *Log
	kind string
	docs *mongo.Collection
	// cache, when set, holds the documents this process last wrote or read
	// to change (see Cached).
	cache *docCache
}

// Aggregates registers a kind (its records are "<kind>/<id>/<version>").
func (l *Log) Aggregates(kind string, docs *mongo.Collection) *Aggregates {
	a := &Aggregates{log: l, kind: kind, docs: docs}
	l.kinds[kind] = a
	return a
}

// Cached makes Change start from the document this process last wrote or
// read to change, when it has it, instead of reading the database: the
// claim of the next version tells whether it was still the latest (a
// conflict reads the database), and a change that decides on it to change
// nothing, or to refuse, decides again on the database's document.
func (a *Aggregates) Cached() *Aggregates {
	a.cache = newDocCache(cachedDocs)
	return a
}

func (a *Aggregates) aggregate(id primitive.ObjectID) string { return a.kind + "/" + id.Hex() }

// Get decodes the document with id into out, or returns ErrNotFound.
func (a *Aggregates) Get(ctx context.Context, id primitive.ObjectID, out any) error {
	raw, err := a.read(ctx, id)
	if err != nil {
		return err
	}
	if err := bson.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decoding %s %s: %w", a.kind, id.Hex(), err)
	}
	return nil
}

// read returns the document with id, or ErrNotFound.
func (a *Aggregates) read(ctx context.Context, id primitive.ObjectID) (bson.Raw, error) {
	raw, err := a.docs.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", a.kind, id.Hex(), err)
	}
	return raw, nil
}

// AtLeast decodes into out the aggregate at version or later: its document
// once written that far, else the state that version's claim holds (a
// writer that has just claimed it is publishing, then writing it). It is
// what a writer that lost a claim (ErrConflict) reads to learn what won.
func (a *Aggregates) AtLeast(ctx context.Context, id primitive.ObjectID, version int64, out any) error {
	raw, err := a.read(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if err == nil {
		if v, ok := raw.Lookup("version").Int64OK(); ok && v >= version {
			return bson.Unmarshal(raw, out)
		}
	}
	rec, found, err := a.log.record(ctx, recordKey(a.aggregate(id), version))
	switch {
	case err != nil:
		return err
	case !found:
		return fmt.Errorf("%w: %s %s at version %d", ErrNotFound, a.kind, id.Hex(), version)
	case rec.State == nil:
		// Marked published since the document was read: it is written.
		return a.Get(ctx, id, out)
	}
	return bson.Unmarshal(rec.State, out)
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

// record builds the record of doc (the aggregate's whole document at
// version, with _id and version) and its event.
func (a *Aggregates) record(id primitive.ObjectID, version int64, doc any, ev events.Event) (Record, error) {
	state, err := bson.Marshal(doc)
	if err != nil {
		return Record{}, fmt.Errorf("encoding %s %s: %w", a.kind, id.Hex(), err)
	}
	if v, ok := bson.Raw(state).Lookup("version").Int64OK(); !ok || v != version {
		return Record{}, fmt.Errorf("%s %s: the document's version must be %d (an int64)", a.kind, id.Hex(), version)
	}
	agg := a.aggregate(id)
	rec := Record{Key: recordKey(agg, version), Aggregate: agg, Version: version, State: state, At: a.log.now().UTC()}
	if ev != nil {
		data, err := json.Marshal(ev)
		if err != nil {
			return Record{}, fmt.Errorf("encoding %s: %w", ev.Subject(), err)
		}
		rec.Subject, rec.Data, rec.Pending, rec.PublishFirst = ev.Subject(), data, true, a.log.relay.publishes()
	}
	return rec, nil
}

// Commit claims version of aggregate id and writes doc (its whole document
// at that version, with _id and version) as it; ErrConflict when the
// version was claimed already. ev, if not nil, is published before the
// document is written.
func (a *Aggregates) Commit(ctx context.Context, id primitive.ObjectID, version int64, doc any, ev events.Event) error {
	rec, err := a.record(id, version, doc, ev)
	if err != nil {
		return err
	}
	return a.commit(ctx, rec)
}

// CommitFirst is Commit of version 0 claimed under key, a unique key of
// the caller's own (such as a reservation's slot), so that one insert both
// decides what the caller competes for and claims the aggregate's first
// version; ErrConflict when key is taken (Claim reads its holder). The
// document's own insert keeps its id unique.
func (a *Aggregates) CommitFirst(ctx context.Context, key string, id primitive.ObjectID, doc any, ev events.Event) error {
	rec, err := a.record(id, 0, doc, ev)
	if err != nil {
		return err
	}
	rec.Key = key
	return a.commit(ctx, rec)
}

// Claim returns the first version's record claimed under key
// (CommitFirst); found is false when there is none.
func (a *Aggregates) Claim(ctx context.Context, key string) (Record, bool, error) {
	return recordIn(ctx, a.docs, key)
}

// FinishFirst finishes a first version claimed under a caller's key
// (CommitFirst) whose document is missing (its insert was split, and its
// writer may have died): it publishes the event and inserts the document.
// Unlike a later version it needs neither an election nor Grace: the
// document's insert is unique by itself, and an event published twice is
// what at-least-once delivery allows.
func (a *Aggregates) FinishFirst(ctx context.Context, rec Record) error {
	return a.finishFirst(ctx, a.docs, rec)
}

// finishFirst is FinishFirst of a record kept in coll.
func (a *Aggregates) finishFirst(ctx context.Context, coll *mongo.Collection, rec Record) error {
	if rec.Version != 0 || rec.State == nil {
		return fmt.Errorf("record %s is not a first version with its state", rec.Key)
	}
	if rec.Pending && !a.log.relay.publishes() {
		return fmt.Errorf("record %s: this log publishes nothing", rec.Key)
	}
	if rec.Pending {
		if err := a.log.relay.publish(ctx, rec); err != nil {
			return err
		}
	}
	if err := a.settle(ctx, rec); err != nil {
		return err
	}
	if rec.Pending {
		a.log.relay.markLater(coll, rec.Key, coll == a.docs && rec.Key == recordKey(rec.Aggregate, 0))
	}
	return nil
}

func (a *Aggregates) commit(ctx context.Context, rec Record) error {
	if rec.Version == 0 {
		return a.commitFirst(ctx, rec)
	}
	if _, err := a.log.coll.InsertOne(ctx, rec); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return ErrConflict
		}
		return fmt.Errorf("claiming %s: %w", rec.Key, err)
	}
	// The version is ours: finish it even if the caller goes away.
	wctx, cancel := writeContext(ctx, rec)
	defer cancel()
	if rec.Pending && rec.PublishFirst {
		if err := a.log.relay.hold(wctx, rec); err != nil {
			a.cache.drop(rec.Aggregate)
			return fmt.Errorf("publishing %s (claimed; it will be applied later): %w", rec.Key, err)
		}
	}
	if err := a.settle(wctx, rec); err != nil {
		// The version is ours and recorded: the sweep (or the next
		// writer) rolls it forward after Grace.
		a.cache.drop(rec.Aggregate)
		return fmt.Errorf("writing %s (claimed; it will be applied later): %w", rec.Key, err)
	}
	if rec.Pending && rec.PublishFirst {
		a.log.relay.markLater(a.log.coll, rec.Key, false)
	}
	if rec.State != nil {
		a.cache.put(rec.Aggregate, rec.State)
	}
	return nil
}

// commitFirst claims a first version by inserting its record and its
// document in one command, into the document's collection: the document's
// unique id is the claim (or the record's key, one of the caller's own),
// and one insert of both is one transaction on FerretDB. Should the two be
// split all the same (a server crash between them elsewhere), a record
// without its document is rolled forward like any claim.
//
// Its event is published after the document is written: the sweep
// republishes a first version it finds pending (delivery is at least
// once). Order is kept all the same: a next version can only be claimed by
// someone who knows the aggregate, from its creator's answer (given after
// the publish) or from its event.
func (a *Aggregates) commitFirst(ctx context.Context, rec Record) error {
	rec.PublishFirst = false
	if _, err := a.docs.InsertMany(ctx, []any{rec, rec.State}); err != nil {
		var bwe mongo.BulkWriteException
		if !errors.As(err, &bwe) || len(bwe.WriteErrors) == 0 || bwe.WriteErrors[0].Code != duplicateKey {
			return fmt.Errorf("claiming %s: %w", rec.Key, err)
		}
		if bwe.WriteErrors[0].Index == 1 {
			// The record went in, but the document was there: not ours.
			if _, derr := a.docs.DeleteOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: rec.Key}, {Key: "at", Value: rec.At}}); derr != nil {
				return fmt.Errorf("giving back %s: %w", rec.Key, derr)
			}
		}
		return ErrConflict
	}
	if rec.Pending && a.log.relay.publishes() {
		// Should the bus refuse it for longer than the hold, it stays
		// pending and the sweep publishes it (a next version may then go
		// out first: replicas wait for the missing one, as for any event
		// out of order).
		wctx, cancel := writeContext(ctx, rec)
		defer cancel()
		if err := a.log.relay.hold(wctx, rec); err == nil {
			a.log.relay.markLater(a.docs, rec.Key, rec.Key == recordKey(rec.Aggregate, 0))
		}
	}
	a.cache.put(rec.Aggregate, rec.State)
	return nil
}

// idOf is the document id of a record's aggregate.
func idOf(rec Record) (primitive.ObjectID, error) {
	_, hex, _ := strings.Cut(rec.Aggregate, "/")
	id, err := primitive.ObjectIDFromHex(hex)
	if err != nil {
		return id, fmt.Errorf("record %s: aggregate %q: %w", rec.Key, rec.Aggregate, err)
	}
	return id, nil
}

// settle writes the record's version unless the document is at its version
// (or later) already.
func (a *Aggregates) settle(ctx context.Context, rec Record) error {
	id, err := idOf(rec)
	if err != nil {
		return err
	}
	if rec.Version == 0 {
		_, err := a.docs.InsertOne(ctx, rec.State)
		if err != nil && !mongo.IsDuplicateKeyError(err) {
			return err
		}
		return nil
	}
	filter := bson.D{{Key: "_id", Value: id}, {Key: "version", Value: rec.Version - 1}}
	var res *mongo.UpdateResult
	if rec.Patch != nil {
		res, err = a.docs.UpdateOne(ctx, filter, bson.D{{Key: "$set", Value: rec.Patch}})
	} else {
		res, err = a.docs.ReplaceOne(ctx, filter, rec.State)
	}
	if err != nil {
		return err
	}
	if res.MatchedCount == 1 {
		return nil
	}
	stored, found, err := a.storedVersion(ctx, id)
	if err != nil {
		return err
	}
	if found && stored >= rec.Version {
		return nil
	}
	return fmt.Errorf("%w: %s is at version %d, not %d", ErrNotYet, rec.Aggregate, stored, rec.Version-1)
}

// record reads one record of a later version; found is false when there is
// none.
func (l *Log) record(ctx context.Context, key string) (Record, bool, error) {
	return recordIn(ctx, l.coll, key)
}

// recordIn reads one record from coll; found is false when there is none.
func recordIn(ctx context.Context, coll *mongo.Collection, key string) (Record, bool, error) {
	var r Record
	err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&r)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("reading record %s: %w", key, err)
	}
	return r, true, nil
}

// stale reports whether a record's writer is past Grace.
func (l *Log) stale(rec Record) bool { return l.now().Sub(rec.At) > l.grace }

// rollForward finishes the version of a writer that died after its claim
// (the record is past Grace and its document behind it), if this process
// is the one elected to: publish, then write. It reports whether it did.
func (a *Aggregates) rollForward(ctx context.Context, rec Record) (bool, error) {
	if !a.log.stale(rec) || (rec.State == nil && rec.Patch == nil) || (rec.Pending && !a.log.relay.publishes()) {
		return false, nil // a log that publishes nothing leaves events to one that does
	}
	won, err := a.log.takeovers.Elect(ctx, Collection+"/"+rec.Key)
	if err != nil || !won {
		return false, err
	}
	// Within the elected taker's deadline, after which another round may
	// elect someone else.
	ctx, cancel := context.WithTimeout(ctx, claim.TakeoverDeadline)
	defer cancel()
	if rec.Pending {
		if err := a.log.relay.publish(ctx, rec); err != nil {
			return false, err
		}
	}
	if err := a.settle(ctx, rec); err != nil {
		return false, err
	}
	if rec.Pending {
		a.log.relay.markLater(a.log.coll, rec.Key, false)
	}
	return true, nil
}

// recoverClaim rolls forward the record of a version whose writer seems to
// have died; it reports whether it did.
func (a *Aggregates) recoverClaim(ctx context.Context, id primitive.ObjectID, version int64) (bool, error) {
	rec, found, err := a.log.record(ctx, recordKey(a.aggregate(id), version))
	if err != nil || !found {
		return false, err
	}
	return a.rollForward(ctx, rec)
}

// Apply stores a replica's document at version, as its source published
// it: once, and only right after its predecessor. An older version is
// already applied (nil); a newer one is ErrNotYet, so its event is
// redelivered after the missing one.
//
// Version 0 is the document's insert, unique by itself. A later version is
// claimed first, then written: the claim answers whether it was applied
// already, so the usual case costs the claim and the write.
func (a *Aggregates) Apply(ctx context.Context, id primitive.ObjectID, version int64, doc any) error {
	if version == 0 {
		if _, err := a.docs.InsertOne(ctx, doc); err != nil && !mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("storing %s %s: %w", a.kind, id.Hex(), err)
		}
		return nil
	}
	rec, err := a.record(id, version, doc, nil)
	if err != nil {
		return err
	}
	return a.apply(ctx, id, rec)
}

// ApplyPatch is Apply of a version that sets fields of the replica's
// document (set, without version) instead of replacing it: for events that
// do not carry the whole document. Version 0 needs the whole document.
func (a *Aggregates) ApplyPatch(ctx context.Context, id primitive.ObjectID, version int64, set bson.D) error {
	if version == 0 {
		return fmt.Errorf("%s %s: version 0 is a whole document, not a patch", a.kind, id.Hex())
	}
	patch, err := bson.Marshal(append(set, bson.E{Key: "version", Value: version}))
	if err != nil {
		return fmt.Errorf("encoding %s %s: %w", a.kind, id.Hex(), err)
	}
	agg := a.aggregate(id)
	return a.apply(ctx, id, Record{Key: recordKey(agg, version), Aggregate: agg, Version: version, Patch: patch, At: a.log.now().UTC()})
}

func (a *Aggregates) apply(ctx context.Context, id primitive.ObjectID, rec Record) error {
	_, err := a.log.coll.InsertOne(ctx, rec)
	if mongo.IsDuplicateKeyError(err) {
		// Applied already, being applied, or left by a crash.
		stored, found, err := a.storedVersion(ctx, id)
		switch {
		case err != nil:
			return err
		case found && stored >= rec.Version:
			return nil
		case !found || stored < rec.Version-1:
			return fmt.Errorf("%w: %s at %d, got %d", ErrNotYet, rec.Aggregate, stored, rec.Version)
		}
		if recovered, err := a.recoverClaim(ctx, id, rec.Version); recovered || err != nil {
			return err
		}
		return fmt.Errorf("%w: %s version %d", ErrInProgress, rec.Aggregate, rec.Version)
	}
	if err != nil {
		return fmt.Errorf("claiming %s: %w", rec.Key, err)
	}
	wctx, cancel := writeContext(ctx, rec)
	defer cancel()
	for range 2 {
		err = a.settle(wctx, rec)
		if !errors.Is(err, ErrNotYet) {
			return err
		}
		// The predecessor may have been written since the write missed it.
		stored, found, serr := a.storedVersion(wctx, id)
		if serr != nil || !found || stored != rec.Version-1 {
			break
		}
	}
	// Arrived before its predecessor: give the claim back (it is ours, so
	// no other claim under its key can be deleted), for the redelivery.
	if _, derr := a.log.coll.DeleteOne(wctx, bson.D{{Key: "_id", Value: rec.Key}, {Key: "at", Value: rec.At}}); derr != nil {
		return errors.Join(err, fmt.Errorf("releasing %s (rolled forward after Grace): %w", rec.Key, derr))
	}
	return err
}

// duplicateKey is the code of a write refused by a unique index.
const duplicateKey = 11000

// maxAttempts bounds how often Change re-reads after losing a race.
const maxAttempts = 30

// Change reads aggregate id into a T, lets change turn it into the next
// version (it is told that version, for the document and its event), and
// commits the result. A change that returns a nil event changes nothing;
// an error from change is returned as it is. Losing the claim to another
// writer re-reads and retries, so concurrent changes all apply, one by one.
func Change[T any](ctx context.Context, a *Aggregates, id primitive.ObjectID, version func(*T) int64, change func(doc *T, next int64) (events.Event, error)) (T, error) {
	agg := a.aggregate(id)
	for attempt := 1; ; {
		raw, cached := a.cache.get(agg)
		if !cached {
			var err error
			if raw, err = a.read(ctx, id); err != nil {
				var zero T
				return zero, err
			}
			a.cache.put(agg, raw)
		}
		var doc T
		if err := bson.Unmarshal(raw, &doc); err != nil {
			return doc, fmt.Errorf("decoding %s: %w", agg, err)
		}
		next := version(&doc) + 1
		ev, err := change(&doc, next)
		if cached && (err != nil || ev == nil) {
			// Decided on a copy that may be behind: decide on the database's.
			a.cache.drop(agg)
			continue
		}
		if err != nil || ev == nil {
			return doc, err
		}
		err = a.Commit(ctx, id, next, doc, ev)
		if !errors.Is(err, ErrConflict) {
			return doc, err
		}
		a.cache.drop(agg)
		if cached {
			continue // the copy was behind; the database has the latest
		}
		if attempt == maxAttempts {
			return doc, err
		}
		attempt++
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
