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
	errNoOrder    = errors.New("no such order")
	errPaid       = errors.New("order already paid")
	errInProgress = errors.New("a payment for this order is in progress")
)

// order is the replica of an order, kept from order events.
type order struct {
	ID      primitive.ObjectID `bson:"_id"`
	UserID  string             `bson:"userId"`
	Status  events.OrderStatus `bson:"status"`
	Price   float64            `bson:"price"`
	Version int64              `bson:"version"`
}

// Payment states: a claim is pending while Stripe is being called.
const (
	paymentPending   = "pending"
	paymentSucceeded = "succeeded"
	paymentRefunded  = "refunded"
)

// payment is one order's payment. The unique index on orderId is what
// makes a second concurrent payment for the order impossible: its claim
// cannot be inserted (docs/CONTRACT.md §6). Its later states are versions claimed in
// the outbox log: succeeded (1, announced by payment:created), refunded (2).
type payment struct {
	ID        primitive.ObjectID `bson:"_id"`
	OrderID   primitive.ObjectID `bson:"orderId"`
	StripeID  string             `bson:"stripeId"`
	RefundID  string             `bson:"refundId,omitempty"`
	Status    string             `bson:"status"`
	CreatedAt time.Time          `bson:"createdAt"`
	Version   int64              `bson:"version"`
	// Intent is the charge a pending claim is making, so that one left by
	// a crash mid-charge can be settled (see payer.settleUncertain); it is
	// dropped once the charge is recorded.
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

// attempt is an order's current charge attempt: the n-th key, and the
// charge whose answer was lost (Stripe unreachable or timed out), if any,
// until a repeat of it learns its outcome.
type attempt struct {
	N         int64         `bson:"n"`
	Uncertain *chargeIntent `bson:"uncertain,omitempty"`
}

// key is the Stripe idempotency key of the attempt.
func (a attempt) key(orderID primitive.ObjectID) string {
	return fmt.Sprintf("order-%s-attempt-%d", orderID.Hex(), a.N)
}

// claimTimeout is how long a pending claim blocks other attempts; longer
// than a charge can take, so only a claim abandoned by a crash expires.
const claimTimeout = 2 * stripeTimeout

type store struct {
	orders       *outbox.Aggregates
	payments     *outbox.Aggregates
	paymentsColl *mongo.Collection
	// attempts counts an order's definitive charge failures, so each new
	// try gets a new idempotency key, and holds the charge whose answer was
	// lost (with its token) until a repeat learns its outcome. The holder
	// of the order's payment claim writes it, or whoever takes over a
	// crashed claim.
	attempts *mongo.Collection
	// refundClaims lets one process at a time ask Stripe for a payment's
	// refund, keyed by the payment's id.
	refundClaims *mongo.Collection
	now          func() time.Time
}

// newStore ensures the unique index on orderId, which makes a second
// concurrent payment for an order impossible (see payment).
func newStore(ctx context.Context, db *mongo.Database, olog *outbox.Log) (*store, error) {
	payments := db.Collection("payments")
	_, err := payments.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "orderId", Value: 1}},
		Options: options.Index().SetUnique(true).SetName("orderId_unique"),
	})
	if err != nil {
		return nil, fmt.Errorf("creating payments index: %w", err)
	}
	return &store{
		orders: olog.Aggregates("order", db.Collection("orders")),
		// Version 0, the claim, is a plain insert under the unique orderId.
		payments:     olog.Aggregates("payment", payments).EventsFrom(1),
		paymentsColl: payments,
		attempts:     db.Collection("attempts"),
		refundClaims: db.Collection("refundClaims"),
		now:          time.Now,
	}, nil
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

// PaymentOf returns the order's payment; found is false when it has none.
func (s *store) PaymentOf(ctx context.Context, orderID primitive.ObjectID) (payment, bool, error) {
	var p payment
	err := s.paymentsColl.FindOne(ctx, bson.D{{Key: "orderId", Value: orderID}}).Decode(&p)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return payment{}, false, nil
	}
	if err != nil {
		return payment{}, false, fmt.Errorf("reading payment: %w", err)
	}
	return p, true, nil
}

// Claim inserts a pending payment for the order, about to make intent:
// errPaid if it is paid, errInProgress if another attempt holds a live
// claim.
func (s *store) Claim(ctx context.Context, orderID primitive.ObjectID, intent chargeIntent) (payment, error) {
	p := payment{ID: primitive.NewObjectID(), OrderID: orderID, Status: paymentPending, CreatedAt: s.now(), Intent: &intent}
	for range 2 {
		_, err := s.paymentsColl.InsertOne(ctx, p)
		if err == nil {
			return p, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return payment{}, fmt.Errorf("claiming payment: %w", err)
		}
		held, found, err := s.PaymentOf(ctx, orderID)
		switch {
		case err != nil:
			return payment{}, err
		case !found:
			continue // abandoned meanwhile: try again
		case held.Status != paymentPending:
			return payment{}, errPaid
		case s.now().Sub(held.CreatedAt) < claimTimeout:
			return payment{}, errInProgress
		}
		// A claim left by a crash: the retry repeats its charge (same key
		// and parameters), so Stripe returns a charge it may have made
		// instead of making another.
		if held.Intent != nil {
			// Marked before the claim goes, so that whoever claims next
			// repeats it too (see payer.claim).
			if err := s.MarkUncertain(ctx, orderID, *held.Intent); err != nil {
				return payment{}, err
			}
			p.Intent = held.Intent
		}
		s.Abandon(ctx, held)
	}
	return payment{}, errInProgress
}

// Abandon deletes a pending claim (by its own _id, so never another
// attempt's) so the order can be paid again.
func (s *store) Abandon(ctx context.Context, p payment) {
	_, _ = s.paymentsColl.DeleteOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: p.ID}, {Key: "status", Value: paymentPending}})
}

// Attempt is the order's current attempt.
func (s *store) Attempt(ctx context.Context, orderID primitive.ObjectID) (attempt, error) {
	var a attempt
	err := s.attempts.FindOne(ctx, bson.D{{Key: "_id", Value: orderID}}).Decode(&a)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return attempt{}, fmt.Errorf("reading attempt: %w", err)
	}
	return a, nil
}

// MarkUncertain records that the answer to intent was lost: it may have
// charged the buyer. Called while holding the order's claim.
func (s *store) MarkUncertain(ctx context.Context, orderID primitive.ObjectID, intent chargeIntent) error {
	_, err := s.attempts.UpdateOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: orderID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "uncertain", Value: intent}}}}, options.Update().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("recording a charge of unknown outcome: %w", err)
	}
	return nil
}

// ClearUncertain forgets the lost answer once a repeat has learnt its
// outcome. Called while holding the order's claim.
func (s *store) ClearUncertain(ctx context.Context, orderID primitive.ObjectID) error {
	_, err := s.attempts.UpdateOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: orderID}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: "uncertain", Value: ""}}}})
	if err != nil {
		return fmt.Errorf("settling a charge of unknown outcome: %w", err)
	}
	return nil
}

// NextAttempt moves the order to attempt n after a definitive failure, so
// the user can retry with another card under a new idempotency key. Called
// while holding the order's claim.
func (s *store) NextAttempt(ctx context.Context, orderID primitive.ObjectID, n int64) error {
	_, err := s.attempts.UpdateOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: orderID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: n}}}, {Key: "$unset", Value: bson.D{{Key: "uncertain", Value: ""}}}}, options.Update().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("recording attempt: %w", err)
	}
	return nil
}

// Succeed records the charge, with its payment:created event.
func (s *store) Succeed(ctx context.Context, p payment, stripeID string) (payment, error) {
	p.StripeID, p.Status, p.Version, p.Intent = stripeID, paymentSucceeded, 1, nil
	ev := events.PaymentCreated{ID: p.ID.Hex(), OrderID: p.OrderID.Hex(), StripeID: stripeID}
	if err := s.payments.Commit(ctx, p.ID, 1, p, ev); err != nil {
		return payment{}, fmt.Errorf("recording payment: %w", err)
	}
	return p, nil
}

// Refunded records a refund of a succeeded payment, with its
// payment:refunded event (orders shows the buyer it); recording it twice
// (two processes refunding the same charge) is not an error.
func (s *store) Refunded(ctx context.Context, p payment, refundID string) (payment, error) {
	p.RefundID, p.Status, p.Version = refundID, paymentRefunded, 2
	ev := events.PaymentRefunded{ID: p.ID.Hex(), OrderID: p.OrderID.Hex(), StripeID: p.StripeID, RefundID: refundID}
	err := s.payments.Commit(ctx, p.ID, 2, p, ev)
	if errors.Is(err, outbox.ErrConflict) {
		return p, nil
	}
	if err != nil {
		return payment{}, fmt.Errorf("recording refund: %w", err)
	}
	return p, nil
}

// refundClaim gives its holder the right to ask Stripe for a refund.
type refundClaim struct {
	PaymentID primitive.ObjectID `bson:"_id"`
	At        time.Time          `bson:"at"`
}

// ClaimRefund reports whether the caller may ask Stripe for p's refund now:
// false while another process's claim is younger than claimTimeout (it is
// asking; a claim that old was left by a crash and is taken over).
func (s *store) ClaimRefund(ctx context.Context, p payment) (refundClaim, bool, error) {
	for range 2 {
		c := refundClaim{PaymentID: p.ID, At: s.now().UTC().Truncate(time.Millisecond)}
		_, err := s.refundClaims.InsertOne(ctx, c)
		if err == nil {
			return c, true, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return c, false, fmt.Errorf("claiming refund of %s: %w", p.ID.Hex(), err)
		}
		var held refundClaim
		err = s.refundClaims.FindOne(ctx, bson.D{{Key: "_id", Value: p.ID}}).Decode(&held)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			continue
		case err != nil:
			return c, false, fmt.Errorf("reading refund claim of %s: %w", p.ID.Hex(), err)
		case s.now().Sub(held.At) < claimTimeout:
			return c, false, nil
		}
		s.ReleaseRefund(ctx, held)
	}
	return refundClaim{}, false, nil
}

// ReleaseRefund deletes a refund claim (that one, not a newer one), so the
// refund can be asked for again.
func (s *store) ReleaseRefund(ctx context.Context, c refundClaim) {
	_, _ = s.refundClaims.DeleteOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: c.PaymentID}, {Key: "at", Value: c.At}})
}

// Payment returns a payment by its id.
func (s *store) Payment(ctx context.Context, id primitive.ObjectID) (payment, error) {
	var p payment
	if err := s.paymentsColl.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&p); err != nil {
		return payment{}, fmt.Errorf("reading payment %s: %w", id.Hex(), err)
	}
	return p, nil
}

// ApplyOrder stores a replicated order version: once, and only right
// after its predecessor (outbox.ErrNotYet otherwise).
func (s *store) ApplyOrder(ctx context.Context, o order) error {
	return s.orders.Apply(ctx, o.ID, o.Version, o)
}
