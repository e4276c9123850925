package main

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/tickets/catalog"
)

var (
	errNoTicket = errors.New("no such ticket")
	// errStale: the ticket kept changing under this write; it was refused.
	errStale = outbox.ErrConflict
)

// ticket is a stored ticket. Version counts its writes (optimistic
// concurrency, claimed in the outbox log); OrderID is set while an order
// reserves it.
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
	// Sold: its order (OrderID, kept) is complete; it is never released.
	Sold bool `bson:"sold,omitempty"`
}

// A ticket's states, as the API's status field names them.
const (
	statusAvailable = "available"
	statusReserved  = "reserved"
	statusSold      = "sold"
)

// status is available, reserved (an order holds it) or sold (that order
// is paid).
func (t ticket) status() string {
	switch {
	case t.Sold:
		return statusSold
	case t.OrderID != "":
		return statusReserved
	}
	return statusAvailable
}

func (t ticket) updatedEvent() events.TicketUpdated {
	return events.TicketUpdated{ID: t.ID.Hex(), Version: t.Version, Title: t.Title, Price: t.Price, UserID: t.UserID, OrderID: t.OrderID, Sold: t.Sold}
}

func ticketVersion(t *ticket) int64 { return t.Version }

// store is the tickets collection. Every write claims its version and
// stores the event that announces it in the outbox log, in one call.
type store struct {
	tickets     *outbox.Aggregates
	ticketsColl *mongo.Collection
	// catalog answers the list queries (readmodel.go); Create and Change
	// put what they write there at once.
	catalog *catalog.Catalog
}

// newStore needs no index of its own: tickets are looked up by _id, and
// lists are answered by the catalog, which load and follow fill.
func newStore(ctx context.Context, db *mongo.Database, olog *outbox.Log) (*store, error) {
	tickets := db.Collection("tickets")
	// Changes start from the ticket this process last wrote (the
	// reservation, then the sale, of one purchase).
	return &store{tickets: olog.Aggregates("ticket", tickets).Cached(), ticketsColl: tickets, catalog: catalog.New()}, nil
}

// Create stores a new ticket at version 0 with its ticket:created event.
func (s *store) Create(ctx context.Context, title string, price float64, userID string) (ticket, error) {
	t := ticket{ID: primitive.NewObjectID(), Title: title, Price: price, UserID: userID}
	ev := events.TicketCreated{ID: t.ID.Hex(), Version: 0, Title: title, Price: price, UserID: userID}
	if err := s.tickets.Commit(ctx, t.ID, 0, t, ev); err != nil {
		return ticket{}, fmt.Errorf("creating ticket: %w", err)
	}
	s.catalog.Put(t.item())
	return t, nil
}

// Get returns one ticket or errNoTicket.
func (s *store) Get(ctx context.Context, id primitive.ObjectID) (ticket, error) {
	var t ticket
	err := s.tickets.Get(ctx, id, &t)
	if errors.Is(err, outbox.ErrNotFound) {
		return ticket{}, errNoTicket
	}
	return t, err
}

// Change reads a ticket, lets change modify it (or refuse with an error, or
// report that nothing is to be done by returning false), and commits the
// result as the next version with its ticket:updated event. A concurrent
// writer that claimed the version first makes it read again and retry.
func (s *store) Change(ctx context.Context, id primitive.ObjectID, change func(*ticket) (bool, error)) (ticket, error) {
	t, err := outbox.Change(ctx, s.tickets, id, ticketVersion, func(t *ticket, next int64) (events.Event, error) {
		changed, err := change(t)
		if err != nil || !changed {
			return nil, err
		}
		t.Version = next
		return t.updatedEvent(), nil
	})
	if errors.Is(err, outbox.ErrNotFound) {
		return ticket{}, errNoTicket
	}
	if err == nil {
		s.catalog.Put(t.item())
	}
	return t, err
}
