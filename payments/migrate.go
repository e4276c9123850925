package main

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// What payments kept before attempts were slots: one payment per order
// under a unique index on orderId, an attempts collection (the order's
// attempt number n and the charge whose answer was lost) and refund
// claims.
const (
	legacyOrderIndex   = "orderId_unique"
	legacyAttempts     = "attempts"
	legacyRefundClaims = "refundClaims"
)

// legacyAttempt is an order's attempts record as it was kept.
type legacyAttempt struct {
	OrderID   primitive.ObjectID `bson:"_id"`
	N         int64              `bson:"n"`
	Uncertain *chargeIntent      `bson:"uncertain,omitempty"`
}

// hasIndex reports whether payments has an index of that name.
func (s *store) hasIndex(ctx context.Context, name string) (bool, error) {
	names, err := s.paymentsColl.Indexes().ListSpecifications(ctx)
	if err != nil {
		return false, fmt.Errorf("listing payments' indexes: %w", err)
	}
	for _, ix := range names {
		if ix.Name == name {
			return true, nil
		}
	}
	return false, nil
}

// migrate moves payments kept the way they were before into slots, so
// that nothing paid can be paid again and nothing uncertain is forgotten:
// an order's payment takes slot n of its attempts record (its Stripe key
// was that attempt's), the n attempts before it were declined, and a
// charge whose answer was lost with no payment left is an uncertain slot
// n. It ends with the indexes of slots in place. It drops what it moved
// and changes nothing it moved already, so it is safe to run again and by
// two processes at once; with nothing to move it costs a few commands.
func (s *store) migrate(ctx context.Context, db *mongo.Database) error {
	// Every database of the old kind has the index: only then can a
	// payment without a slot exist (a scan on FerretDB, done once). It is
	// dropped once its payments have their slots, so a start that crashed
	// in between, or a second process starting beside this one, moves
	// them again (which changes nothing moved already).
	legacy, err := s.hasIndex(ctx, legacyOrderIndex)
	if err != nil {
		return err
	}
	attempts := db.Collection(legacyAttempts)
	cur, err := attempts.Find(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("reading old attempts: %w", err)
	}
	var all []legacyAttempt
	if err := cur.All(ctx, &all); err != nil {
		return fmt.Errorf("reading old attempts: %w", err)
	}
	if legacy {
		if err := s.slotOld(ctx, all); err != nil {
			return err
		}
		if _, err := s.paymentsColl.Indexes().DropOne(ctx, legacyOrderIndex); err != nil && !indexNotFound(err) {
			return fmt.Errorf("dropping the one-payment-per-order index: %w", err)
		}
	}
	for _, idx := range []mongo.IndexModel{
		{Keys: bson.D{{Key: "slot", Value: 1}}, Options: options.Index().SetUnique(true).SetName("slot_unique")},
		{Keys: bson.D{{Key: "orderId", Value: 1}}},
	} {
		if _, err := s.paymentsColl.Indexes().CreateOne(ctx, idx); err != nil {
			return fmt.Errorf("creating payments indexes: %w", err)
		}
	}
	if len(all) == 0 {
		return nil
	}
	for _, a := range all {
		for n := range a.N {
			if err := s.insertOld(ctx, payment{ID: primitive.NewObjectID(), Slot: slotKey(a.OrderID, n), OrderID: a.OrderID, N: n,
				Status: paymentDeclined, CreatedAt: s.now().UTC()}); err != nil {
				return err
			}
		}
		if a.Uncertain != nil {
			if err := s.insertOld(ctx, payment{ID: primitive.NewObjectID(), Slot: slotKey(a.OrderID, a.N), OrderID: a.OrderID, N: a.N,
				Status: paymentUncertain, CreatedAt: s.now().UTC(), Intent: a.Uncertain}); err != nil {
				return err
			}
		}
	}
	for _, name := range []string{legacyAttempts, legacyRefundClaims} {
		if err := db.Collection(name).Drop(ctx); err != nil {
			return fmt.Errorf("dropping %s (moved): %w", name, err)
		}
	}
	return nil
}

// slotOld gives each payment without a slot the slot of its order's
// attempt (attempts: the old attempts records).
func (s *store) slotOld(ctx context.Context, attempts []legacyAttempt) error {
	byOrder := map[primitive.ObjectID]int64{}
	for _, a := range attempts {
		byOrder[a.OrderID] = a.N
	}
	cur, err := s.paymentsColl.Find(ctx, bson.D{{Key: "slot", Value: bson.D{{Key: "$exists", Value: false}}}})
	if err != nil {
		return fmt.Errorf("reading old payments: %w", err)
	}
	var old []payment
	if err := cur.All(ctx, &old); err != nil {
		return fmt.Errorf("reading old payments: %w", err)
	}
	for _, p := range old {
		n := byOrder[p.OrderID]
		_, err := s.paymentsColl.UpdateOne(ctx, bson.D{{Key: "_id", Value: p.ID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "slot", Value: slotKey(p.OrderID, n)}, {Key: "n", Value: n}}}})
		if err != nil {
			return fmt.Errorf("moving payment %s: %w", p.ID.Hex(), err)
		}
	}
	return nil
}

// insertOld inserts a slot moved from before, unless the slot is taken.
func (s *store) insertOld(ctx context.Context, p payment) error {
	if _, err := s.paymentsColl.InsertOne(ctx, p); err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("moving %s: %w", p.Slot, err)
	}
	return nil
}

// indexNotFound reports a dropIndexes of an index (or collection) that is
// not there.
func indexNotFound(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && (ce.Code == 27 || ce.Code == 26 || ce.HasErrorMessage("index not found"))
}
