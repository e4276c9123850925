package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
)

// throttle limits failed sign-ins per account (docs/CONTRACT.md §2a): more than max
// failures within window lock the account's sign-in, whatever the
// password, until enough of them are older than window.
//
// It holds across processes on an engine whose updates are not atomic
// (FerretDB): every attempt inserts a record of its own, and the count is
// an equality lookup on the indexed email. An attempt is recorded before
// its password is checked, so concurrent guesses all see one another and
// at most max of them are checked per window; the record is removed again
// when the attempt turns out to be no failure (right password, or turned
// away here). Unknown emails are throttled alike, so a 429 does not tell
// which emails have accounts.
type throttle struct {
	c      *mongo.Collection
	max    int
	window time.Duration
	now    func() time.Time
}

// attemptRecord is one sign-in attempt, kept while it counts as a failure.
type attemptRecord struct {
	ID    primitive.ObjectID `bson:"_id"`
	Email string             `bson:"email"`
	At    time.Time          `bson:"at"`
}

// throttled is the answer while an account is locked: retry after this long.
type throttled struct{ retryAfter time.Duration }

func (t *throttled) Error() string { return fmt.Sprintf("sign-in locked for %s", t.retryAfter) }

func newThrottle(ctx context.Context, db *mongo.Database, max int, window time.Duration, now func() time.Time) (*throttle, error) {
	c := db.Collection("signin_attempts")
	if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "email", Value: 1}}}); err != nil {
		return nil, fmt.Errorf("creating signin_attempts index: %w", err)
	}
	return &throttle{c: c, max: max, window: window, now: now}, nil
}

// begin records an attempt for email and returns its id, or a *throttled
// when the account has max failures within the window already. With max
// 0 nothing is recorded or refused.
func (t *throttle) begin(ctx context.Context, email string) (primitive.ObjectID, error) {
	if t.max == 0 {
		return primitive.ObjectID{}, nil // throttling off
	}
	now := t.now()
	rec := attemptRecord{ID: primitive.NewObjectID(), Email: email, At: now}
	if _, err := t.c.InsertOne(ctx, rec); err != nil {
		return primitive.ObjectID{}, fmt.Errorf("recording sign-in attempt: %w", err)
	}
	others, err := t.recent(ctx, email, rec.ID, now)
	if err != nil {
		return rec.ID, err
	}
	if len(others) < t.max {
		return rec.ID, nil
	}
	if err := t.forget(ctx, rec.ID); err != nil {
		return rec.ID, err
	}
	// Locked until all but max-1 of the failures have left the window.
	slices.SortFunc(others, func(a, b attemptRecord) int { return a.At.Compare(b.At) })
	until := others[len(others)-t.max].At.Add(t.window)
	return rec.ID, &throttled{retryAfter: until.Sub(now)}
}

// recent returns email's attempts within the window other than own, and
// deletes those older than the window.
func (t *throttle) recent(ctx context.Context, email string, own primitive.ObjectID, now time.Time) ([]attemptRecord, error) {
	cur, err := t.c.Find(ctx, bson.D{{Key: "email", Value: email}})
	if err != nil {
		return nil, fmt.Errorf("counting sign-in failures: %w", err)
	}
	var all []attemptRecord
	if err := cur.All(ctx, &all); err != nil {
		return nil, fmt.Errorf("counting sign-in failures: %w", err)
	}
	cutoff := now.Add(-t.window)
	var recent []attemptRecord
	stale := false
	for _, a := range all {
		switch {
		case a.ID == own:
		case !a.At.After(cutoff):
			stale = true
		default:
			recent = append(recent, a)
		}
	}
	if stale {
		// The email equality is pushed down to the engine; the range is
		// then checked over this email's few records only.
		filter := bson.D{{Key: "email", Value: email}, {Key: "at", Value: bson.D{{Key: "$lte", Value: cutoff}}}}
		if _, err := t.c.DeleteMany(ctx, filter); err != nil {
			return nil, fmt.Errorf("pruning sign-in failures: %w", err)
		}
	}
	return recent, nil
}

// prune deletes every attempt older than the window, including those of
// emails never tried again; a full scan, so it runs once per window.
func (t *throttle) prune(ctx context.Context) error {
	if _, err := t.c.DeleteMany(ctx, bson.D{{Key: "at", Value: bson.D{{Key: "$lte", Value: t.now().Add(-t.window)}}}}); err != nil {
		return fmt.Errorf("pruning sign-in attempts: %w", err)
	}
	return nil
}

// forget removes an attempt that was not a failure.
func (t *throttle) forget(ctx context.Context, id primitive.ObjectID) error {
	if id.IsZero() {
		return nil
	}
	if _, err := t.c.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("removing sign-in attempt: %w", err)
	}
	return nil
}
