package main

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
)

var (
	errNoTicket = errors.New("no such ticket")
	// errStale: the ticket changed since it was read; the write was refused.
	errStale = errors.New("ticket was changed concurrently")
)

// ticket is a stored ticket. Version counts its writes (optimistic
// concurrency); OrderID is set while an order reserves it.
type ticket struct {
	ID      primitive.ObjectID `bson:"_id"`
	Title   string             `bson:"title"`
	Price   float64            `bson:"price"`
	UserID  string             `bson:"userId"`
	OrderID string             `bson:"orderId"`
	Version int64              `bson:"version"`
	// ReleasedOrders remembers recently released orders, so an
	// order:created redelivered after its order:cancelled is not applied.
	ReleasedOrders []string `bson:"releasedOrders,omitempty"`
}

func (t ticket) updatedEvent() events.TicketUpdated {
	return events.TicketUpdated{ID: t.ID.Hex(), Version: t.Version, Title: t.Title, Price: t.Price, UserID: t.UserID, OrderID: t.OrderID}
}

// ticketStore is the tickets collection. Every write stores the event that
// announces it in the ticket's outbox, in the same write.
type ticketStore struct {
	c     *mongo.Collection
	locks *outbox.Locks
}

func newTicketStore(db *mongo.Database, locks *outbox.Locks) *ticketStore {
	return &ticketStore{c: db.Collection("tickets"), locks: locks}
}

// readProjection leaves the outbox out of ordinary reads.
var readProjection = bson.D{{Key: outbox.Field, Value: 0}}

// Create stores a new ticket at version 0 with its ticket:created event.
func (s *ticketStore) Create(ctx context.Context, title string, price float64, userID string) (ticket, error) {
	t := ticket{ID: primitive.NewObjectID(), Title: title, Price: price, UserID: userID}
	entry, err := outbox.NewEntry(events.TicketCreated{ID: t.ID.Hex(), Version: 0, Title: title, Price: price, UserID: userID})
	if err != nil {
		return ticket{}, err
	}
	doc := bson.D{
		{Key: "_id", Value: t.ID}, {Key: "title", Value: t.Title}, {Key: "price", Value: t.Price},
		{Key: "userId", Value: t.UserID}, {Key: "orderId", Value: ""}, {Key: "version", Value: int64(0)},
		{Key: outbox.Field, Value: []outbox.Entry{entry}},
	}
	if _, err := s.c.InsertOne(ctx, doc); err != nil {
		return ticket{}, fmt.Errorf("inserting ticket: %w", err)
	}
	return t, nil
}

// Get returns one ticket or errNoTicket.
func (s *ticketStore) Get(ctx context.Context, id primitive.ObjectID) (ticket, error) {
	var t ticket
	err := s.c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(readProjection)).Decode(&t)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return ticket{}, errNoTicket
	}
	if err != nil {
		return ticket{}, fmt.Errorf("finding ticket: %w", err)
	}
	return t, nil
}

// List returns every ticket, oldest first.
func (s *ticketStore) List(ctx context.Context) ([]ticket, error) {
	cur, err := s.c.Find(ctx, bson.D{}, options.Find().SetProjection(readProjection).SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("listing tickets: %w", err)
	}
	out := []ticket{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("listing tickets: %w", err)
	}
	return out, nil
}

// Change reads a ticket, lets change modify it (or refuse with an error, or
// report that nothing is to be done by returning false), and saves the
// result as the next version with its ticket:updated event. The document is
// locked throughout, and the save only matches the version that was read.
func (s *ticketStore) Change(ctx context.Context, id primitive.ObjectID, change func(*ticket) (bool, error)) (ticket, error) {
	unlock := s.locks.Lock(id)
	defer unlock()
	t, err := s.Get(ctx, id)
	if err != nil {
		return ticket{}, err
	}
	read := t.Version
	changed, err := change(&t)
	if err != nil || !changed {
		return t, err
	}
	t.Version = read + 1
	return t, s.save(ctx, t, read)
}

// save writes t as the version after `read`, refusing with errStale when
// the stored version is no longer `read`.
func (s *ticketStore) save(ctx context.Context, t ticket, read int64) error {
	entry, err := outbox.NewEntry(t.updatedEvent())
	if err != nil {
		return err
	}
	res, err := s.c.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: t.ID}, {Key: "version", Value: read}},
		bson.D{
			{Key: "$set", Value: bson.D{
				{Key: "title", Value: t.Title}, {Key: "price", Value: t.Price}, {Key: "orderId", Value: t.OrderID},
				{Key: "version", Value: t.Version}, {Key: "releasedOrders", Value: t.ReleasedOrders},
			}},
			{Key: "$push", Value: bson.D{{Key: outbox.Field, Value: entry}}},
		})
	if err != nil {
		return fmt.Errorf("updating ticket: %w", err)
	}
	if res.MatchedCount == 0 {
		return errStale
	}
	return nil
}
