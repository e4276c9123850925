// Package claim is how a service holds a key across processes, and the one
// rule for when a holder is taken to have died.
//
// A claim is a document inserted under a unique key: the one atomic
// primitive of every engine the services run on (docs/CONTRACT.md §6), so
// of any number of processes taking a key exactly one holds it, and the
// others read who does (Take). A holder works within a deadline that it
// enforces itself; once that deadline and Margin (to record what it did)
// have passed, its claim is stale (StaleAfter): it was left by a crash.
// What taking a stale claim over means is each user's own (idempotency
// keys: run the request again; payments: repeat the charge under its
// Stripe key; the outbox: roll the version forward); when only one process
// may do it, TakeOver elects that one.
package claim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
)

// Margin is what a holder is given beyond its deadline to record what it
// did before its claim counts as left by a crash.
const Margin = 5 * time.Second

// StaleAfter is the rule every claim follows: a claim whose holder works
// within deadline is stale once it is older than deadline + Margin.
func StaleAfter(deadline time.Duration) time.Duration { return deadline + Margin }

// Stale reports whether a claim taken at `at`, whose holder works within
// deadline, is stale at now.
func Stale(at, now time.Time, deadline time.Duration) bool {
	return now.Sub(at) > StaleAfter(deadline)
}

// Take inserts doc into coll as a claim. won: the caller holds it.
// Otherwise the key is held: held is the holder's document, read by
// filter (which names the unique key), and found is false when the holder
// let go between the insert and the read (the caller may take it again).
func Take[T any](ctx context.Context, coll *mongo.Collection, doc any, filter bson.D) (held T, won, found bool, err error) {
	_, err = coll.InsertOne(ctx, doc)
	if err == nil {
		return held, true, false, nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return held, false, false, fmt.Errorf("claiming in %s: %w", coll.Name(), err)
	}
	err = coll.FindOne(ctx, filter).Decode(&held)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return held, false, false, nil
	}
	if err != nil {
		return held, false, false, fmt.Errorf("reading the holder in %s: %w", coll.Name(), err)
	}
	return held, false, true, nil
}

// Takeovers elects, of the processes that found the same stale claim, the
// one that takes it over. Its election markers live in a collection of
// their own (Collection, one per service database), never updated or
// deleted: a takeover follows a crash, so they are few.
type Takeovers struct {
	coll *mongo.Collection
	now  func() time.Time
}

// Collection holds a service's takeover markers.
const Collection = "takeovers"

// TakeoverDeadline bounds an elected taker's work (a roll-forward, a
// delete): past StaleAfter of it, the taker is taken to have died too,
// and the next election is held.
const TakeoverDeadline = 10 * time.Second

// NewTakeovers keeps markers in db's Collection.
func NewTakeovers(db *mongo.Database) *Takeovers {
	return &Takeovers{coll: db.Collection(Collection), now: time.Now}
}

// SetClock makes the takeovers read the time from now (tests).
func (t *Takeovers) SetClock(now func() time.Time) { t.now = now }

// marker is one election for one stale claim.
type marker struct {
	Key string    `bson:"_id"` // "<name>/<round>"
	At  time.Time `bson:"at"`
}

// Elect reports whether the caller is the one to take over the stale claim
// that name identifies (its collection, its key and the time it was taken,
// so that a later claim under the same key is another election). Of any
// number of callers, one wins each round, by an insert under the round's
// key; a round whose winner has not finished within TakeoverDeadline
// (plus Margin) is taken to have died with it, and the next round is held.
//
// Only the winner may remove or replace the stale claim: a delete is a
// read then a delete by key on FerretDB, so two processes deleting the
// same stale claim could remove a fresh one that one of them had just
// inserted under the same key.
func (t *Takeovers) Elect(ctx context.Context, name string) (bool, error) {
	for round := 0; ; {
		m := marker{Key: fmt.Sprintf("%s/%d", name, round), At: t.now().UTC()}
		held, won, found, err := Take[marker](ctx, t.coll, m, bson.D{{Key: "_id", Value: m.Key}})
		switch {
		case err != nil:
			return false, err
		case won:
			return true, nil
		case !found:
			continue // markers are never deleted; read it again
		case !Stale(held.At, t.now(), TakeoverDeadline):
			return false, nil // another process is taking it over
		}
		round++
	}
}
