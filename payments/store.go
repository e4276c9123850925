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
	errStale      = errors.New("order version arrived before its predecessor")
	errPaid       = errors.New("order already paid")
	errInProgress = errors.New("a payment for this order is in progress")
)

// order is the replica of an order, kept from order events. Attempt counts
// definitive charge failures, so each new try gets a new idempotency key.
type order struct {
	ID      primitive.ObjectID `bson:"_id"`
	UserID  string             `bson:"userId"`
	Status  events.OrderStatus `bson:"status"`
	Price   float64            `bson:"price"`
	Version int64              `bson:"version"`
	Attempt int64              `bson:"attempt"`
}

// Payment states: a claim is pending while Stripe is being called.
const (
	paymentPending   = "pending"
	paymentSucceeded = "succeeded"
)

// payment is one order's payment. The unique index on orderId is what
// makes a second concurrent payment for the order impossible: its claim
// cannot be inserted (DESIGN §6).
type payment struct {
	ID        primitive.ObjectID `bson:"_id"`
	OrderID   primitive.ObjectID `bson:"orderId"`
	StripeID  string             `bson:"stripeId"`
	Status    string             `bson:"status"`
	CreatedAt time.Time          `bson:"createdAt"`
}

// claimTimeout is how long a pending claim blocks other attempts; longer
// than a charge can take, so only a claim abandoned by a crash expires.
const claimTimeout = 2 * stripeTimeout

type store struct {
	orders   *mongo.Collection
	payments *mongo.Collection
	now      func() time.Time
}

func newStore(db *mongo.Database) *store {
	return &store{orders: db.Collection("orders"), payments: db.Collection("payments"), now: time.Now}
}

func (s *store) ensureIndexes(ctx context.Context) error {
	_, err := s.payments.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "orderId", Value: 1}},
		Options: options.Index().SetUnique(true).SetName("orderId_unique"),
	})
	if err != nil {
		return fmt.Errorf("creating payments index: %w", err)
	}
	return nil
}

// Order returns a replicated order or errNoOrder.
func (s *store) Order(ctx context.Context, id primitive.ObjectID) (order, error) {
	var o order
	err := s.orders.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&o)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return order{}, errNoOrder
	}
	if err != nil {
		return order{}, fmt.Errorf("finding order: %w", err)
	}
	return o, nil
}

// Claim inserts a pending payment for the order: errPaid if it is paid,
// errInProgress if another attempt holds a live claim.
func (s *store) Claim(ctx context.Context, orderID primitive.ObjectID) (payment, error) {
	p := payment{ID: primitive.NewObjectID(), OrderID: orderID, Status: paymentPending, CreatedAt: s.now()}
	for range 2 {
		_, err := s.payments.InsertOne(ctx, p)
		if err == nil {
			return p, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return payment{}, fmt.Errorf("claiming payment: %w", err)
		}
		var held payment
		err = s.payments.FindOne(ctx, bson.D{{Key: "orderId", Value: orderID}}).Decode(&held)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			continue // abandoned meanwhile: try again
		case err != nil:
			return payment{}, fmt.Errorf("reading payment: %w", err)
		case held.Status == paymentSucceeded:
			return payment{}, errPaid
		case s.now().Sub(held.CreatedAt) < claimTimeout:
			return payment{}, errInProgress
		}
		// A claim left by a crash: the retry reuses the idempotency key, so
		// a charge it may have made is returned, not repeated.
		s.Abandon(ctx, held)
	}
	return payment{}, errInProgress
}

// Abandon deletes a pending claim so the order can be paid again.
func (s *store) Abandon(ctx context.Context, p payment) {
	_, _ = s.payments.DeleteOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: p.ID}, {Key: "status", Value: paymentPending}})
}

// Succeed records the charge and, in the same write, the payment:created
// event for the outbox relay.
func (s *store) Succeed(ctx context.Context, p payment, stripeID string) error {
	entry, err := outbox.NewEntry(events.PaymentCreated{ID: p.ID.Hex(), OrderID: p.OrderID.Hex(), StripeID: stripeID})
	if err != nil {
		return err
	}
	_, err = s.payments.UpdateOne(ctx, bson.D{{Key: "_id", Value: p.ID}},
		bson.D{
			{Key: "$set", Value: bson.D{{Key: "stripeId", Value: stripeID}, {Key: "status", Value: paymentSucceeded}}},
			{Key: "$push", Value: bson.D{{Key: outbox.Field, Value: entry}}},
		})
	if err != nil {
		return fmt.Errorf("recording payment: %w", err)
	}
	return nil
}

// NextAttempt moves the order to a new idempotency key after a definitive
// failure, so the user can retry with another card.
func (s *store) NextAttempt(ctx context.Context, orderID primitive.ObjectID) error {
	_, err := s.orders.UpdateOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: orderID}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "attempt", Value: 1}}}})
	return err
}

// CreateOrder stores a replicated order at version 0 (once).
func (s *store) CreateOrder(ctx context.Context, o order) error {
	_, err := s.orders.InsertOne(ctx, o)
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("inserting order: %w", err)
	}
	return nil
}

// ApplyStatus sets the status of the order at version; only the next
// version applies, an older one is dropped, a future one is errStale.
func (s *store) ApplyStatus(ctx context.Context, id primitive.ObjectID, version int64, status events.OrderStatus) error {
	res, err := s.orders.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: "version", Value: version - 1}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: status}, {Key: "version", Value: version}}}})
	if err != nil {
		return fmt.Errorf("updating order: %w", err)
	}
	if res.MatchedCount == 1 {
		return nil
	}
	stored, err := s.Order(ctx, id)
	if err == nil && stored.Version >= version {
		return nil // already applied
	}
	return errStale
}
