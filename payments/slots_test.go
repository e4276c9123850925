package main

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/events"
	"ticketing.dev/common/service"
	"ticketing.dev/common/testkit"
)

func TestAnAttemptAfterTheCancelListenerClosedTheOrderChargesNothing(t *testing.T) {
	e := newEnv(t)
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	oid, _ := primitive.ObjectIDFromHex(id)
	testkit.Publish(t, e.bus, events.OrderCancelled{ID: id, Version: 1})
	require.Eventually(t, func() bool { return latestAttempt(t, e, id).Status == paymentClosed }, 5*time.Second, 20*time.Millisecond,
		"the listener found no attempt and closed slot 0")

	// A payment that read the order before the cancel was applied comes
	// to claim its attempt only now.
	p := &payer{store: e.store, charges: newStripeCharges("sk_test_123", e.stripe.URL), log: service.NewLogger(io.Discard, "payments", "info")}
	_, err := p.attempt(context.Background(), order{ID: oid, UserID: "owner", Status: events.StatusCreated, Price: 20}, "tok_visa")
	assert.ErrorIs(t, err, errCancelled)
	assert.Empty(t, e.stripe.charges())
}

func TestPaymentsKeptTheOldWayAreMovedIntoSlotsAndStillCannotBePaidTwice(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	paid := seedOrder(t, e, "owner", 20, events.StatusCreated)
	lost := seedOrder(t, e, "owner", 20, events.StatusCreated)
	paidID, _ := primitive.ObjectIDFromHex(paid)
	lostID, _ := primitive.ObjectIDFromHex(lost)
	// Before slots: one payment per order under a unique orderId, the
	// order's attempt number and lost charge in attempts.
	coll := e.store.paymentsColl
	_, err := coll.Indexes().DropOne(ctx, "orderId_1")
	require.NoError(t, err)
	_, err = coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "orderId", Value: 1}},
		Options: options.Index().SetUnique(true).SetName(legacyOrderIndex)})
	require.NoError(t, err)
	_, err = coll.InsertOne(ctx, bson.M{"_id": primitive.NewObjectID(), "orderId": paidID, "stripeId": "ch_old", "status": paymentSucceeded,
		"createdAt": time.Now(), "version": int64(1)})
	require.NoError(t, err)
	attempts := e.db.Collection(legacyAttempts)
	lostIntent := chargeIntent{Key: attemptKey(lostID, 1), Cents: 2000, Token: "tok_visa"}
	_, err = attempts.InsertMany(ctx, []any{
		legacyAttempt{OrderID: paidID, N: 2},
		legacyAttempt{OrderID: lostID, N: 1, Uncertain: &lostIntent},
	})
	require.NoError(t, err)

	url, _ := e.process(t) // a process started after the upgrade moves them
	var got []string
	for _, p := range slots(t, e, paid) {
		got = append(got, p.Slot+" "+p.Status)
	}
	assert.Equal(t, []string{paid + "/0 declined", paid + "/1 declined", paid + "/2 succeeded"}, got)
	e.URL = url
	r := pay(t, e, paid, "tok_visa", user(t, "owner"))
	assert.Equal(t, 400, r.Status, "paid before: still paid")
	assert.JSONEq(t, `{"errors":[{"message":"Order has already been paid"}]}`, r.Raw)

	// The lost charge is repeated as it was, under its own key.
	require.Equal(t, 201, pay(t, e, lost, "tok_mastercard", user(t, "owner")).Status)
	requireOneChargeRequest(t, e, lostIntent.Key, "tok_visa")
	n, err := attempts.CountDocuments(ctx, bson.D{})
	require.NoError(t, err)
	assert.Zero(t, n, "moved")
}

// A refund's holder whose claim went stale while it asked Stripe may find
// that another process's try failed and put the payment back to
// succeeded: the holder must not report the refund as made (its caller
// would ack order:cancelled with no payment:refunded ever published).
func TestARefundWhoseClaimWasRolledBackMeanwhileIsNotReportedAsMade(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	require.Equal(t, 201, pay(t, e, id, "tok_visa", user(t, "owner")).Status)
	paid := latestAttempt(t, e, id)
	require.Equal(t, paymentSucceeded, paid.Status)

	// This process claims the refund ...
	claim := paid
	at := time.Now().UTC().Truncate(time.Millisecond)
	claim.Status, claim.RefundingAt = paymentRefunding, &at
	claimed, err := e.store.Next(ctx, claim, nil)
	require.NoError(t, err)
	// ... and meanwhile another one's failed try puts it back.
	back := claimed
	back.Status, back.RefundingAt = paymentSucceeded, nil
	_, err = e.store.Next(ctx, back, nil)
	require.NoError(t, err)

	p := &payer{store: e.store, charges: newStripeCharges("sk_test_123", e.stripe.URL), log: service.NewLogger(io.Discard, "payments", "info")}
	_, err = p.refund(ctx, claimed)
	assert.ErrorIs(t, err, errRefundBusy, "not refunded as far as the record says: tried again on redelivery")
	assert.Equal(t, paymentSucceeded, latestAttempt(t, e, id).Status)
}
