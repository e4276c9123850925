package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
)

var (
	errNoOrder  = errors.New("no such order")
	errNoTicket = errors.New("no such ticket")
	errReserved = errors.New("ticket is already reserved")
	errStale    = errors.New("order was changed concurrently")
)

// ticket is the replica of a ticket, kept from ticket:created/updated.
type ticket struct {
	ID      primitive.ObjectID `bson:"_id"`
	Title   string             `bson:"title"`
	Price   float64            `bson:"price"`
	Version int64              `bson:"version"`
}

// order is a stored order. Price is the ticket's price when it was ordered.
type order struct {
	ID        primitive.ObjectID `bson:"_id"`
	UserID    string             `bson:"userId"`
	Status    events.OrderStatus `bson:"status"`
	ExpiresAt time.Time          `bson:"expiresAt"`
	TicketID  primitive.ObjectID `bson:"ticketId"`
	Price     float64            `bson:"price"`
	Version   int64              `bson:"version"`
}

// active reports whether the order holds its ticket.
func (o order) active() bool { return o.Status != events.StatusCancelled }

// reservation is the lock that makes double booking impossible: its _id is
// the ticket's id, so the database's unique _id admits at most one per
// ticket, however many orders race for it (DESIGN §6: concurrent inserts
// under a unique index are correct even on FerretDB).
type reservation struct {
	TicketID  primitive.ObjectID `bson:"_id"`
	OrderID   primitive.ObjectID `bson:"orderId"`
	CreatedAt time.Time          `bson:"createdAt"`
}

// orphanGrace is how long a reservation may exist without its order before
// it is taken to be left over from a crash between the two inserts.
const orphanGrace = 30 * time.Second

// store holds orders, the ticket replica and reservations.
type store struct {
	orders       *mongo.Collection
	tickets      *mongo.Collection
	reservations *mongo.Collection
	locks        *outbox.Locks
	now          func() time.Time
}

func newStore(db *mongo.Database, locks *outbox.Locks) *store {
	return &store{
		orders:       db.Collection("orders"),
		tickets:      db.Collection("tickets"),
		reservations: db.Collection("reservations"),
		locks:        locks,
		now:          time.Now,
	}
}

// ensureIndexes creates the index the list query uses.
func (s *store) ensureIndexes(ctx context.Context) error {
	_, err := s.orders.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "userId", Value: 1}, {Key: "_id", Value: 1}}})
	if err != nil {
		return fmt.Errorf("creating orders index: %w", err)
	}
	return nil
}

var noOutbox = options.FindOne().SetProjection(bson.D{{Key: outbox.Field, Value: 0}})

// Ticket returns a replicated ticket or errNoTicket.
func (s *store) Ticket(ctx context.Context, id primitive.ObjectID) (ticket, error) {
	var t ticket
	err := s.tickets.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&t)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return ticket{}, errNoTicket
	}
	if err != nil {
		return ticket{}, fmt.Errorf("finding ticket: %w", err)
	}
	return t, nil
}

// Tickets returns the replicated tickets with the given ids, by id.
func (s *store) Tickets(ctx context.Context, ids []primitive.ObjectID) (map[primitive.ObjectID]ticket, error) {
	cur, err := s.tickets.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return nil, fmt.Errorf("finding tickets: %w", err)
	}
	var ts []ticket
	if err := cur.All(ctx, &ts); err != nil {
		return nil, fmt.Errorf("finding tickets: %w", err)
	}
	out := make(map[primitive.ObjectID]ticket, len(ts))
	for _, t := range ts {
		out[t.ID] = t
	}
	return out, nil
}

// Order returns one order or errNoOrder.
func (s *store) Order(ctx context.Context, id primitive.ObjectID) (order, error) {
	var o order
	err := s.orders.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, noOutbox).Decode(&o)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return order{}, errNoOrder
	}
	if err != nil {
		return order{}, fmt.Errorf("finding order: %w", err)
	}
	return o, nil
}

// OrdersOf returns a user's orders, oldest first.
func (s *store) OrdersOf(ctx context.Context, userID string) ([]order, error) {
	cur, err := s.orders.Find(ctx, bson.D{{Key: "userId", Value: userID}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetProjection(bson.D{{Key: outbox.Field, Value: 0}}))
	if err != nil {
		return nil, fmt.Errorf("listing orders: %w", err)
	}
	out := []order{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("listing orders: %w", err)
	}
	return out, nil
}

// Reserve creates an order for the ticket, or returns errReserved when an
// active order holds it. The reservation is claimed first, so of many
// concurrent attempts exactly one gets past the unique _id.
func (s *store) Reserve(ctx context.Context, t ticket, userID string, window time.Duration) (order, error) {
	now := s.now()
	o := order{
		ID: primitive.NewObjectID(), UserID: userID, Status: events.StatusCreated,
		ExpiresAt: now.Add(window).UTC().Truncate(time.Millisecond), TicketID: t.ID, Price: t.Price,
	}
	if err := s.claim(ctx, t.ID, o.ID, now); err != nil {
		return order{}, err
	}
	entry, err := outbox.NewEntry(o.createdEvent())
	if err != nil {
		return order{}, err
	}
	doc := bson.D{
		{Key: "_id", Value: o.ID}, {Key: "userId", Value: o.UserID}, {Key: "status", Value: o.Status},
		{Key: "expiresAt", Value: o.ExpiresAt}, {Key: "ticketId", Value: o.TicketID}, {Key: "price", Value: o.Price},
		{Key: "version", Value: o.Version}, {Key: outbox.Field, Value: []outbox.Entry{entry}},
	}
	if _, err := s.orders.InsertOne(ctx, doc); err != nil {
		s.release(context.WithoutCancel(ctx), t.ID, o.ID)
		return order{}, fmt.Errorf("inserting order: %w", err)
	}
	return o, nil
}

// claim inserts the ticket's reservation for orderID. When one exists, it is
// taken over only if it is stale: its order was cancelled, or it never got
// its order (a crash between the two inserts) and is older than orphanGrace.
func (s *store) claim(ctx context.Context, ticketID, orderID primitive.ObjectID, now time.Time) error {
	for range 2 {
		_, err := s.reservations.InsertOne(ctx, reservation{TicketID: ticketID, OrderID: orderID, CreatedAt: now})
		if err == nil {
			return nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("reserving ticket: %w", err)
		}
		var held reservation
		err = s.reservations.FindOne(ctx, bson.D{{Key: "_id", Value: ticketID}}).Decode(&held)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue // released meanwhile: try again
		}
		if err != nil {
			return fmt.Errorf("reading reservation: %w", err)
		}
		holder, err := s.Order(ctx, held.OrderID)
		switch {
		case err == nil && holder.active():
			return errReserved
		case errors.Is(err, errNoOrder) && now.Sub(held.CreatedAt) < orphanGrace:
			return errReserved // its order is being written right now
		case err != nil && !errors.Is(err, errNoOrder):
			return err
		}
		s.release(ctx, ticketID, held.OrderID)
	}
	return errReserved
}

// release deletes the ticket's reservation if orderID holds it.
func (s *store) release(ctx context.Context, ticketID, orderID primitive.ObjectID) {
	_, _ = s.reservations.DeleteOne(ctx, bson.D{{Key: "_id", Value: ticketID}, {Key: "orderId", Value: orderID}})
}

// Change reads an order under its lock, lets change modify it (or refuse,
// or report nothing to do), and saves it as the next version together with
// the event change returns. A cancelled order's reservation is released
// after the save; a stale cancelled order's is also found by claim.
func (s *store) Change(ctx context.Context, id primitive.ObjectID, change func(*order) (events.Event, error)) (order, error) {
	unlock := s.locks.Lock(id)
	defer unlock()
	o, err := s.Order(ctx, id)
	if err != nil {
		return order{}, err
	}
	read := o.Version
	ev, err := change(&o)
	if err != nil || ev == nil {
		return o, err
	}
	o.Version = read + 1
	entry, err := entryFor(ev, o)
	if err != nil {
		return order{}, err
	}
	res, err := s.orders.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: o.ID}, {Key: "version", Value: read}},
		bson.D{
			{Key: "$set", Value: bson.D{{Key: "status", Value: o.Status}, {Key: "version", Value: o.Version}}},
			{Key: "$push", Value: bson.D{{Key: outbox.Field, Value: entry}}},
		})
	if err != nil {
		return order{}, fmt.Errorf("updating order: %w", err)
	}
	if res.MatchedCount == 0 {
		return order{}, errStale
	}
	if o.Status == events.StatusCancelled {
		s.release(ctx, o.TicketID, o.ID)
	}
	return o, nil
}

// entryFor encodes the event a change produced, now carrying the new version.
func entryFor(ev events.Event, o order) (outbox.Entry, error) {
	switch ev.(type) {
	case events.OrderCancelled:
		return outbox.NewEntry(events.OrderCancelled{ID: o.ID.Hex(), Version: o.Version, Ticket: events.OrderCancelledTicket{ID: o.TicketID.Hex()}})
	case events.OrderComplete:
		return outbox.NewEntry(events.OrderComplete{ID: o.ID.Hex(), Version: o.Version, Status: o.Status, Ticket: events.OrderTicket{ID: o.TicketID.Hex(), Price: o.Price}})
	default:
		return outbox.Entry{}, fmt.Errorf("orders does not publish %s on change", ev.Subject())
	}
}

func (o order) createdEvent() events.OrderCreated {
	return events.OrderCreated{ID: o.ID.Hex(), Version: o.Version, Status: o.Status, UserID: o.UserID,
		ExpiresAt: o.ExpiresAt, Ticket: events.OrderTicket{ID: o.TicketID.Hex(), Price: o.Price}}
}

// Reclaim takes the ticket's reservation back for a paid order that had
// been cancelled meanwhile; errReserved if another order holds it now.
func (s *store) Reclaim(ctx context.Context, o order) error {
	return s.claim(ctx, o.TicketID, o.ID, s.now())
}

// ApplyTicket stores a replicated ticket version. A version that is not
// the next one is refused (errStale) unless it is already applied.
func (s *store) ApplyTicket(ctx context.Context, t ticket) (applied bool, err error) {
	if t.Version == 0 {
		_, err := s.tickets.InsertOne(ctx, t)
		if mongo.IsDuplicateKeyError(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("inserting ticket: %w", err)
		}
		return true, nil
	}
	res, err := s.tickets.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: t.ID}, {Key: "version", Value: t.Version - 1}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "title", Value: t.Title}, {Key: "price", Value: t.Price}, {Key: "version", Value: t.Version}}}})
	if err != nil {
		return false, fmt.Errorf("updating ticket: %w", err)
	}
	if res.MatchedCount == 1 {
		return true, nil
	}
	stored, err := s.Ticket(ctx, t.ID)
	if err == nil && stored.Version >= t.Version {
		return false, nil // already applied
	}
	return false, errStale
}
