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
	// errStale: the order kept changing under this write; it was refused.
	errStale = outbox.ErrConflict
)

// ticket is the replica of a ticket, kept from ticket:created/updated.
type ticket struct {
	ID      primitive.ObjectID `bson:"_id"`
	Title   string             `bson:"title"`
	Price   float64            `bson:"price"`
	Version int64              `bson:"version"`
	// UserID is the seller, who cannot buy it (empty in replicas stored
	// before it was kept, until the ticket's next event).
	UserID string `bson:"userId,omitempty"`
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
	// CancelledAt and CancelReason (cancelledByBuyer or cancelledByExpiry)
	// say when and why a cancelled order ended: the pages tell "Cancelled"
	// from "Expired" by them.
	CancelledAt  *time.Time `bson:"cancelledAt,omitempty"`
	CancelReason string     `bson:"cancelReason,omitempty"`
}

// The reasons an order is cancelled.
const (
	cancelledByBuyer  = "buyer"
	cancelledByExpiry = "expired"
)

// cancel marks o cancelled now, for reason.
func (o *order) cancel(reason string) {
	at := time.Now().UTC()
	o.Status, o.CancelledAt, o.CancelReason = events.StatusCancelled, &at, reason
}

func orderVersion(o *order) int64 { return o.Version }

// active reports whether the order holds its ticket.
func (o order) active() bool { return o.Status != events.StatusCancelled }

// reservation is what makes double booking impossible. A ticket's
// reservations are numbered slots, "<ticket id>/<n>", inserted under the
// unique _id and never deleted: slot n+1 is only ever inserted by someone
// who saw the order holding slot n over, so of any number of buyers racing
// for a free ticket exactly one gets its slot (docs/CONTRACT.md §6: an insert under a
// unique key is atomic on every engine).
type reservation struct {
	Key       string             `bson:"_id"`
	TicketID  primitive.ObjectID `bson:"ticketId"`
	Slot      int64              `bson:"slot"`
	OrderID   primitive.ObjectID `bson:"orderId"`
	UserID    string             `bson:"userId"`
	CreatedAt time.Time          `bson:"createdAt"`
	// Abandoned: its order could not be stored; the slot is over.
	Abandoned bool `bson:"abandoned,omitempty"`
}

func slotKey(ticketID primitive.ObjectID, slot int64) string {
	return fmt.Sprintf("%s/%d", ticketID.Hex(), slot)
}

// orphanGrace is how long a reservation may exist without its order before
// it is taken to be left over from a crash between the two writes.
const orphanGrace = 30 * time.Second

// store holds orders, the ticket replica and reservations.
type store struct {
	orders       *outbox.Aggregates
	tickets      *outbox.Aggregates
	ordersColl   *mongo.Collection
	reservations *mongo.Collection
	// slots remembers each ticket's latest slot, so a reservation starts
	// there instead of at 0. Only a hint: a stale one costs a lookup.
	slots *mongo.Collection
	// refunds records the orders whose late payment was refunded, by order
	// id, from payments' payment:refunded.
	refunds *mongo.Collection
	now     func() time.Time
}

// newStore ensures the index the list query uses.
func newStore(ctx context.Context, db *mongo.Database, olog *outbox.Log) (*store, error) {
	orders := db.Collection("orders")
	_, err := orders.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "userId", Value: 1}, {Key: "_id", Value: 1}}})
	if err != nil {
		return nil, fmt.Errorf("creating orders index: %w", err)
	}
	return &store{
		orders:       olog.Aggregates("order", orders),
		tickets:      olog.Aggregates("ticket", db.Collection("tickets")),
		ordersColl:   orders,
		reservations: db.Collection("reservations"),
		slots:        db.Collection("reservationSlots"),
		refunds:      db.Collection("refunds"),
		now:          time.Now,
	}, nil
}

// Ticket returns a replicated ticket or errNoTicket.
func (s *store) Ticket(ctx context.Context, id primitive.ObjectID) (ticket, error) {
	var t ticket
	err := s.tickets.Get(ctx, id, &t)
	if errors.Is(err, outbox.ErrNotFound) {
		return ticket{}, errNoTicket
	}
	return t, err
}

// Tickets returns the replicated tickets with the given ids, by id: one
// lookup by _id each ($in is not pushed down to the engine).
func (s *store) Tickets(ctx context.Context, ids []primitive.ObjectID) (map[primitive.ObjectID]ticket, error) {
	out := make(map[primitive.ObjectID]ticket, len(ids))
	for _, id := range ids {
		if _, ok := out[id]; ok {
			continue
		}
		t, err := s.Ticket(ctx, id)
		if errors.Is(err, errNoTicket) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[id] = t
	}
	return out, nil
}

// Order returns one order or errNoOrder.
func (s *store) Order(ctx context.Context, id primitive.ObjectID) (order, error) {
	var o order
	err := s.orders.Get(ctx, id, &o)
	if errors.Is(err, outbox.ErrNotFound) {
		return order{}, errNoOrder
	}
	return o, err
}

// OrdersOf returns a user's orders, oldest first.
func (s *store) OrdersOf(ctx context.Context, userID string) ([]order, error) {
	cur, err := s.ordersColl.Find(ctx, bson.D{{Key: "userId", Value: userID}}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
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
// active order holds it.
func (s *store) Reserve(ctx context.Context, t ticket, userID string, window time.Duration) (order, error) {
	now := s.now()
	o := order{
		ID: primitive.NewObjectID(), UserID: userID, Status: events.StatusCreated,
		ExpiresAt: now.Add(window).UTC().Truncate(time.Millisecond), TicketID: t.ID, Price: t.Price,
	}
	res, err := s.claim(ctx, o, now)
	if err != nil {
		return order{}, err
	}
	// A leftover of this buyer's own earlier request is finished under its
	// order id (see claim), so the buyer gets the order it left behind.
	o.ID = res.OrderID
	err = s.orders.Commit(ctx, o.ID, 0, o, o.createdEvent())
	if errors.Is(err, outbox.ErrConflict) {
		// Another request of this buyer (a retry, a double click) wrote
		// this very order first: it is the buyer's order.
		return s.written(ctx, o.ID)
	}
	if err != nil {
		if claimed, cerr := s.orders.Claimed(context.WithoutCancel(ctx), o.ID, 0); cerr == nil && !claimed {
			// Nothing of the order was stored: free the slot at once rather
			// than after orphanGrace. A claimed order is rolled forward
			// instead, and keeps the slot.
			_, _ = s.reservations.UpdateOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: res.Key}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "abandoned", Value: true}}}})
		}
		return order{}, fmt.Errorf("storing order: %w", err)
	}
	return o, nil
}

// written returns an order another request has claimed, once its document
// is there (moments after its claim; the outbox rolls a crashed writer's
// claim forward after its grace).
func (s *store) written(ctx context.Context, id primitive.ObjectID) (order, error) {
	for range 50 {
		o, err := s.Order(ctx, id)
		if !errors.Is(err, errNoOrder) {
			return o, err
		}
		select {
		case <-ctx.Done():
			return order{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return order{}, errReserved
}

// OpenOrders counts the user's unpaid orders (created, not yet over).
func (s *store) OpenOrders(ctx context.Context, userID string) (int, error) {
	orders, err := s.OrdersOf(ctx, userID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range orders {
		if o.Status == events.StatusCreated || o.Status == events.StatusAwaitingPayment {
			n++
		}
	}
	return n, nil
}

// claim inserts the next free slot of the ticket for o, or returns
// errReserved when the order holding the current slot is still active.
func (s *store) claim(ctx context.Context, o order, now time.Time) (reservation, error) {
	// Slot 0 first: a ticket's first reservation costs one insert; the
	// hint is read only once that slot is taken.
	var slot int64
	hinted := false
	for {
		r := reservation{Key: slotKey(o.TicketID, slot), TicketID: o.TicketID, Slot: slot, OrderID: o.ID, UserID: o.UserID, CreatedAt: now}
		_, err := s.reservations.InsertOne(ctx, r)
		if err == nil {
			s.setSlotHint(ctx, o.TicketID, slot)
			return r, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return reservation{}, fmt.Errorf("reserving ticket: %w", err)
		}
		var held reservation
		if err := s.reservations.FindOne(ctx, bson.D{{Key: "_id", Value: r.Key}}).Decode(&held); err != nil {
			return reservation{}, fmt.Errorf("reading reservation: %w", err)
		}
		if own, err := s.ownLeftover(ctx, held, o.UserID, now); err != nil || own {
			return held, err
		}
		live, err := s.live(ctx, held, now)
		if err != nil {
			return reservation{}, err
		}
		if live {
			return reservation{}, errReserved
		}
		slot++
		if !hinted {
			hinted = true
			slot = max(slot, s.slotHint(ctx, o.TicketID))
		}
	}
}

// adoptWithin is how young a reservation without an order must be for its
// own buyer to take it over: well inside orphanGrace, so nobody else can
// have taken the ticket's next slot meanwhile.
const adoptWithin = orphanGrace - 5*time.Second

// ownLeftover reports whether r is the buyer's own reservation whose order
// was never written (a request that crashed, or is still writing it): the
// buyer then gets that order, finished under its id, instead of being told
// that the ticket is reserved (by itself). The version claim of the order
// decides between this request and a writer still at work.
func (s *store) ownLeftover(ctx context.Context, r reservation, userID string, now time.Time) (bool, error) {
	if r.UserID != userID || r.Abandoned || now.Sub(r.CreatedAt) >= adoptWithin {
		return false, nil
	}
	_, err := s.Order(ctx, r.OrderID)
	if errors.Is(err, errNoOrder) {
		return true, nil
	}
	return false, err
}

// live reports whether a reservation still holds its ticket: its order is
// active, or is being written right now.
func (s *store) live(ctx context.Context, r reservation, now time.Time) (bool, error) {
	o, err := s.Order(ctx, r.OrderID)
	if err == nil {
		return o.active(), nil
	}
	if !errors.Is(err, errNoOrder) {
		return false, err
	}
	// No order document: claimed and about to be written, or left by a
	// crash between the reservation and the order.
	claimed, err := s.orders.Claimed(ctx, r.OrderID, 0)
	if err != nil || claimed {
		return claimed, err
	}
	// Abandoned (its writer gave up with nothing claimed) only skips the
	// wait: the order itself, looked up above, always decides, since the
	// buyer's retry may have finished it under the same id meanwhile.
	return !r.Abandoned && now.Sub(r.CreatedAt) < orphanGrace, nil
}

func (s *store) slotHint(ctx context.Context, ticketID primitive.ObjectID) int64 {
	var h struct {
		Slot int64 `bson:"slot"`
	}
	_ = s.slots.FindOne(ctx, bson.D{{Key: "_id", Value: ticketID}}).Decode(&h)
	return h.Slot
}

func (s *store) setSlotHint(ctx context.Context, ticketID primitive.ObjectID, slot int64) {
	if slot == 0 {
		return
	}
	_, _ = s.slots.UpdateOne(ctx, bson.D{{Key: "_id", Value: ticketID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "slot", Value: slot}}}}, options.Update().SetUpsert(true))
}

// Change reads an order, lets change modify it (or refuse with an error, or
// report that nothing is to be done by returning false), and commits the
// result as the next version with the event its new status announces. A
// concurrent writer that claimed the version first makes it read again, so
// of racing transitions (pay, cancel, expire) exactly one applies to each
// version.
func (s *store) Change(ctx context.Context, id primitive.ObjectID, change func(*order) (bool, error)) (order, error) {
	o, err := outbox.Change(ctx, s.orders, id, orderVersion, func(o *order, next int64) (events.Event, error) {
		changed, err := change(o)
		if err != nil || !changed {
			return nil, err
		}
		o.Version = next
		return o.changedEvent()
	})
	if errors.Is(err, outbox.ErrNotFound) {
		return order{}, errNoOrder
	}
	return o, err
}

// changedEvent announces a changed order by the status it changed to.
func (o order) changedEvent() (events.Event, error) {
	switch o.Status {
	case events.StatusCancelled:
		return events.OrderCancelled{ID: o.ID.Hex(), Version: o.Version, Ticket: events.OrderCancelledTicket{ID: o.TicketID.Hex()}}, nil
	case events.StatusComplete:
		return events.OrderComplete{ID: o.ID.Hex(), Version: o.Version, Status: o.Status, Ticket: events.OrderTicket{ID: o.TicketID.Hex(), Price: o.Price}}, nil
	default:
		return nil, fmt.Errorf("orders publishes no event for an order changed to %s", o.Status)
	}
}

func (o order) createdEvent() events.OrderCreated {
	return events.OrderCreated{ID: o.ID.Hex(), Version: o.Version, Status: o.Status, UserID: o.UserID,
		ExpiresAt: o.ExpiresAt, Ticket: events.OrderTicket{ID: o.TicketID.Hex(), Price: o.Price}}
}

// refund is a payment refunded because its order was cancelled or expired
// before the payment could complete it.
type refund struct {
	OrderID   primitive.ObjectID `bson:"_id"`
	PaymentID string             `bson:"paymentId"`
	RefundID  string             `bson:"refundId"`
	At        time.Time          `bson:"at"`
}

// RecordRefund keeps r; a redelivered payment:refunded keeps the first.
func (s *store) RecordRefund(ctx context.Context, r refund) error {
	_, err := s.refunds.InsertOne(ctx, r)
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("recording refund of order %s: %w", r.OrderID.Hex(), err)
	}
	return nil
}

// RefundOf returns the order's refund, if its payment was refunded.
func (s *store) RefundOf(ctx context.Context, orderID primitive.ObjectID) (refund, bool, error) {
	var r refund
	err := s.refunds.FindOne(ctx, bson.D{{Key: "_id", Value: orderID}}).Decode(&r)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return refund{}, false, nil
	}
	if err != nil {
		return refund{}, false, fmt.Errorf("reading refund of order %s: %w", orderID.Hex(), err)
	}
	return r, true, nil
}

// ApplyTicket stores a replicated ticket version: once, and only right
// after its predecessor (outbox.ErrNotYet otherwise).
func (s *store) ApplyTicket(ctx context.Context, t ticket) error {
	return s.tickets.Apply(ctx, t.ID, t.Version, t)
}
