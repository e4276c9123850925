package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// A ticket's reservations are numbered slots, "reservation/<ticket id>/<n>":
// each is the claim of its order's first version (outbox.CommitFirst), kept
// in the orders collection, so one insert (the slot with the order) both
// reserves the ticket and stores the order. Slots are never deleted: slot n+1 is only claimed by
// someone who saw the order holding slot n over, so of any number of
// buyers racing for a free ticket exactly one gets its slot (docs/CONTRACT.md
// §6: an insert under a unique key is atomic on every engine).
func slotKey(ticketID primitive.ObjectID, slot int64) string {
	return fmt.Sprintf("reservation/%s/%d", ticketID.Hex(), slot)
}

// store holds orders (and their reservations) and the ticket replica.
type store struct {
	orders     *outbox.Aggregates
	tickets    *outbox.Aggregates
	ordersColl *mongo.Collection
	// slots remembers each ticket's latest slot, so a reservation starts
	// there instead of at 0. Only a hint: a stale one costs a lookup.
	slots *mongo.Collection
	// refunds records the orders whose late payment was refunded, by order
	// id, from payments' payment:refunded.
	refunds *mongo.Collection
	now     func() time.Time
}

// newStore ensures the index the list query uses, and moves reservations
// kept the way they were before into the slots.
func newStore(ctx context.Context, db *mongo.Database, olog *outbox.Log) (*store, error) {
	orders := db.Collection("orders")
	_, err := orders.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "userId", Value: 1}, {Key: "_id", Value: 1}}})
	if err != nil {
		return nil, fmt.Errorf("creating orders index: %w", err)
	}
	s := &store{
		// An order's payment completes it in the process that created it,
		// as a rule with one process: start from that copy.
		orders:     olog.Aggregates("order", orders).Cached(),
		tickets:    olog.Aggregates("ticket", db.Collection("tickets")),
		ordersColl: orders,
		slots:      db.Collection("reservationSlots"),
		refunds:    db.Collection("refunds"),
		now:        time.Now,
	}
	if err := s.migrateReservations(ctx, orders, db.Collection(legacyReservations)); err != nil {
		return nil, err
	}
	return s, nil
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
	// Slot 0 first: a ticket's first reservation costs one insert; the
	// hint is read only once that slot is taken.
	var slot int64
	hinted := false
	for {
		key := slotKey(t.ID, slot)
		err := s.orders.CommitFirst(ctx, key, o.ID, o, o.createdEvent())
		if err == nil {
			s.setSlotHint(ctx, t.ID, slot)
			return o, nil
		}
		if !errors.Is(err, outbox.ErrConflict) {
			return order{}, fmt.Errorf("storing order: %w", err)
		}
		held, found, err := s.orders.Claim(ctx, key)
		if err != nil {
			return order{}, err
		}
		if !found {
			continue // slots are never deleted; read it again
		}
		own, over, err := s.slotState(ctx, held, userID)
		switch {
		case err != nil:
			return order{}, err
		case own != nil:
			return *own, nil
		case !over:
			return order{}, errReserved
		}
		slot++
		if !hinted {
			hinted = true
			slot = max(slot, s.slotHint(ctx, t.ID))
		}
	}
}

// slotState tells what the order holding a slot means for userID: the
// buyer's own order whose document is not written yet (a retry or a double
// click while the first request writes it, or after it crashed), which it
// gets; or whether the slot is over (its order cancelled) so the next one
// may be claimed.
func (s *store) slotState(ctx context.Context, held outbox.Record, userID string) (own *order, over bool, err error) {
	_, hex, _ := strings.Cut(held.Aggregate, "/")
	id, err := primitive.ObjectIDFromHex(hex)
	if err != nil {
		return nil, false, fmt.Errorf("reservation %s: %w", held.Key, err)
	}
	o, err := s.Order(ctx, id)
	if err == nil {
		return nil, !o.active(), nil
	}
	if !errors.Is(err, errNoOrder) {
		return nil, false, err
	}
	if held.State == nil {
		// Moved from before slots claimed orders: its order was never
		// written, so the slot is over.
		return nil, true, nil
	}
	var claimed order
	if err := bson.Unmarshal(held.State, &claimed); err != nil {
		return nil, false, fmt.Errorf("reservation %s: %w", held.Key, err)
	}
	if claimed.UserID != userID {
		return nil, false, nil // being written, or rolled forward after a crash
	}
	if o, err = s.written(ctx, id); !errors.Is(err, errReserved) {
		return &o, false, err
	}
	// Its writer is gone: finish it now (a first version may be finished
	// by anyone; its event may go out twice, as delivery is at least once).
	if err := s.orders.FinishFirst(ctx, held); err != nil {
		return nil, false, fmt.Errorf("finishing order %s: %w", id.Hex(), err)
	}
	return &claimed, false, nil
}

// written returns an order another request has claimed, once its document
// is there (moments after its claim), or errReserved after a second.
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
