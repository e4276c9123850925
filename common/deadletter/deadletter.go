// Package deadletter keeps the events a service's listeners gave up on
// (events.ListenerOptions.Park) in the service's own database, where an
// operator can list them and, once the cause is fixed, replay them
// (`nats-test deadletters`).
package deadletter

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/events"
)

// Collection is where a service's dead letters live.
const Collection = "deadLetters"

// Store is a service's dead-letter collection.
type Store struct {
	c *mongo.Collection
}

// New returns the dead-letter store in db.
func New(db *mongo.Database) *Store { return &Store{c: db.Collection(Collection)} }

// record is a dead letter as stored: keyed by its message, so parking a
// message twice (two replicas, a retried park) keeps one record.
type record struct {
	ID                string `bson:"_id"`
	events.DeadLetter `bson:",inline"`
}

// Park stores d; a record of the same message already there is kept.
func (s *Store) Park(ctx context.Context, d events.DeadLetter) error {
	_, err := s.c.InsertOne(ctx, record{ID: d.ID(), DeadLetter: d})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("parking %s: %w", d.ID(), err)
	}
	return nil
}

// List returns every dead letter, oldest first.
func (s *Store) List(ctx context.Context) ([]events.DeadLetter, error) {
	cur, err := s.c.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "lastSeen", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("listing dead letters: %w", err)
	}
	var recs []record
	if err := cur.All(ctx, &recs); err != nil {
		return nil, fmt.Errorf("listing dead letters: %w", err)
	}
	out := make([]events.DeadLetter, len(recs))
	for i, r := range recs {
		out[i] = r.DeadLetter
	}
	return out, nil
}

// replayID names a replay for the bus's deduplication: not the event's own
// id, which JetStream may still hold (a message parked within its
// duplicate window would be dropped as a copy of itself), but one per
// dead letter, so that one letter replayed twice goes out once.
func replayID(d events.DeadLetter) string {
	id, err := events.IDOf(d.Subject, []byte(d.Data))
	if err != nil {
		id = string(d.Subject)
	}
	return id + "/replay/" + d.ID()
}

// ErrNotFound: no dead letter has that id.
var ErrNotFound = errors.New("no such dead letter")

// Replay publishes the dead letter's payload again on its subject, then
// removes it. Every queue group listening to the subject gets it again;
// listeners apply each version once, so the others ack it without effect.
func (s *Store) Replay(ctx context.Context, bus events.Bus, id string) error {
	var r record
	err := s.c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&r)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("reading dead letter %s: %w", id, err)
	}
	if err := events.PublishData(ctx, bus, r.Subject, replayID(r.DeadLetter), []byte(r.Data)); err != nil {
		return fmt.Errorf("replaying %s: %w", id, err)
	}
	if _, err := s.c.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("removing replayed dead letter %s: %w", id, err)
	}
	return nil
}
