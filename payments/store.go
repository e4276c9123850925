package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/claim"
	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
)

// order is the replica of an order, kept from order events.
type order struct {
	ID      primitive.ObjectID `bson:"_id"`
	UserID  string             `bson:"userId"`
	Status  events.OrderStatus `bson:"status"`
	Price   float64            `bson:"price"`
	Version int64              `bson:"version"`
}

// A payment attempt's states. An attempt is claimed pending (a charge under
// way); its charge's outcome makes it succeeded (announced by
// payment:created), declined (nothing charged: the next attempt may try
// another card) or uncertain (Stripe's answer was lost: the charge may have
// been made, so it is repeated under the same key). A succeeded payment is
// refunding while one process asks Stripe for its refund, then refunded
// (payment:refunded). closed is the slot the order:cancelled listener
// takes when nothing was charged: no payment may follow.
const (
	paymentPending   = "pending"
	paymentUncertain = "uncertain"
	paymentDeclined  = "declined"
	paymentSucceeded = "succeeded"
	paymentRefunding = "refunding"
	paymentRefunded  = "refunded"
	paymentClosed    = "closed"
)

// payment is one attempt to pay an order, in its numbered slot
// "<order id>/<n>". The slot is a claim (package claim): inserted under a
// unique index, so of any number of attempts only one holds slot n; slot
// n+1 is only claimed by an attempt that found slot n declined, so at most
// one slot is ever charged (docs/CONTRACT.md §6). Its later states are
// versions claimed in the outbox log, so each is decided once: by its
// holder, or by whoever repeats a charge or refund whose holder died.
type payment struct {
	ID        primitive.ObjectID `bson:"_id"`
	Slot      string             `bson:"slot"`
	OrderID   primitive.ObjectID `bson:"orderId"`
	N         int64              `bson:"n"`
	StripeID  string             `bson:"stripeId"`
	RefundID  string             `bson:"refundId,omitempty"`
	Status    string             `bson:"status"`
	CreatedAt time.Time          `bson:"createdAt"`
	// RefundingAt is when the refund was claimed (status refunding).
	RefundingAt *time.Time `bson:"refundingAt,omitempty"`
	Version     int64      `bson:"version"`
	// Intent is the charge a pending or uncertain attempt is making, so
	// that it can be repeated (payer.attempt, payer.charge, payer.settle);
	// it is dropped once the charge's outcome is known.
	Intent *chargeIntent `bson:"intent,omitempty"`
}

// chargeIntent is one charge request: Stripe answers a repeat of it (same
// key, same parameters) with the first request's outcome, and carries it
// out if the first never arrived.
type chargeIntent struct {
	Key   string `bson:"key"`
	Cents int64  `bson:"cents"`
	Token string `bson:"token"`
}

func slotKey(orderID primitive.ObjectID, n int64) string {
	return fmt.Sprintf("%s/%d", orderID.Hex(), n)
}

// attemptKey is the Stripe idempotency key of an order's n-th attempt.
func attemptKey(orderID primitive.ObjectID, n int64) string {
	return fmt.Sprintf("order-%s-attempt-%d", orderID.Hex(), n)
}

// chargeDeadline bounds a holder's work after claiming an attempt or a
// refund: Stripe's call, then recording its outcome. Past claim.StaleAfter
// of it the holder is taken to have died, and the charge or refund is
// repeated under its key.
const chargeDeadline = stripeTimeout + outbox.WriteDeadline

// stale reports whether the holder of an attempt (pending) or a refund
// (refunding) is past its deadline.
func (s *store) stale(p payment) bool {
	at := p.CreatedAt
	if p.Status == paymentRefunding && p.RefundingAt != nil {
		at = *p.RefundingAt
	}
	return claim.Stale(at, s.now(), chargeDeadline)
}

type store struct {
	orders       *outbox.Aggregates
	payments     *outbox.Aggregates
	paymentsColl *mongo.Collection
	now          func() time.Time
}

// newStore moves payments kept the way they were before into slots, and
// ensures the unique index on slot (see payment) and the index an order's
// slots are listed by (migrate).
func newStore(ctx context.Context, db *mongo.Database, olog *outbox.Log) (*store, error) {
	payments := db.Collection("payments")
	s := &store{
		orders:       olog.Aggregates("order", db.Collection("orders")),
		payments:     olog.Aggregates("payment", payments),
		paymentsColl: payments,
		now:          time.Now,
	}
	if err := s.migrate(ctx, db); err != nil {
		return nil, err
	}
	return s, nil
}

// Order returns a replicated order or errNoOrder.
func (s *store) Order(ctx context.Context, id primitive.ObjectID) (order, error) {
	var o order
	err := s.orders.Get(ctx, id, &o)
	if errors.Is(err, outbox.ErrNotFound) {
		return order{}, errNoOrder
	}
	return o, err
}

// Take claims slot n of the order for p (its slot, order and number are
// set here); won is false when the slot is held, and held is its holder.
func (s *store) Take(ctx context.Context, orderID primitive.ObjectID, n int64, p payment) (held payment, won bool, err error) {
	p.Slot, p.OrderID, p.N, p.CreatedAt = slotKey(orderID, n), orderID, n, s.now().UTC().Truncate(time.Millisecond)
	for range 3 {
		held, won, found, err := claim.Take[payment](ctx, s.paymentsColl, p, bson.D{{Key: "slot", Value: p.Slot}})
		if err != nil || won {
			return p, won, err
		}
		if found {
			return held, false, nil
		}
		// Slots are never deleted: read it again.
	}
	return payment{}, false, fmt.Errorf("slot %s: neither taken nor held", p.Slot)
}

// Latest is the order's last attempt; found is false when it has none.
func (s *store) Latest(ctx context.Context, orderID primitive.ObjectID) (payment, bool, error) {
	cur, err := s.paymentsColl.Find(ctx, bson.D{{Key: "orderId", Value: orderID}})
	if err != nil {
		return payment{}, false, fmt.Errorf("reading payments of order %s: %w", orderID.Hex(), err)
	}
	var all []payment
	if err := cur.All(ctx, &all); err != nil {
		return payment{}, false, fmt.Errorf("reading payments of order %s: %w", orderID.Hex(), err)
	}
	if len(all) == 0 {
		return payment{}, false, nil
	}
	latest := all[0]
	for _, p := range all[1:] {
		if p.N > latest.N {
			latest = p
		}
	}
	return latest, true, nil
}

// Next records p (changed from its stored version) as its next version,
// with ev if not nil. When another process recorded that version first, it
// returns what that process recorded instead, with outbox.ErrConflict.
func (s *store) Next(ctx context.Context, p payment, ev events.Event) (payment, error) {
	p.Version++
	err := s.payments.Commit(ctx, p.ID, p.Version, p, ev)
	if errors.Is(err, outbox.ErrConflict) {
		var won payment
		if err := s.payments.AtLeast(ctx, p.ID, p.Version, &won); err != nil {
			return payment{}, err
		}
		return won, outbox.ErrConflict
	}
	if err != nil {
		return payment{}, fmt.Errorf("recording payment %s %s: %w", p.ID.Hex(), p.Status, err)
	}
	return p, nil
}

// Payment returns a payment by its id.
func (s *store) Payment(ctx context.Context, id primitive.ObjectID) (payment, error) {
	var p payment
	if err := s.payments.Get(ctx, id, &p); err != nil {
		return payment{}, fmt.Errorf("reading payment %s: %w", id.Hex(), err)
	}
	return p, nil
}

// ApplyOrder stores a replicated order's first version (once).
func (s *store) ApplyOrder(ctx context.Context, o order) error {
	return s.orders.Apply(ctx, o.ID, o.Version, o)
}

// ApplyStatus stores a replicated order's later version, which changes
// its status (order:cancelled and order:complete carry no buyer or price):
// once, and only right after its predecessor (outbox.ErrNotYet otherwise).
func (s *store) ApplyStatus(ctx context.Context, id primitive.ObjectID, version int64, status events.OrderStatus) error {
	return s.orders.ApplyPatch(ctx, id, version, bson.D{{Key: "status", Value: status}})
}
