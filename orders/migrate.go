package main

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/outbox"
)

// legacyReservations is where reservations were kept before each slot was
// its order's claim (a collection of their own, next to the orders).
const legacyReservations = "reservations"

// legacyReservation is a reservation as it was kept there.
type legacyReservation struct {
	Key       string             `bson:"_id"` // "<ticket id>/<n>"
	TicketID  primitive.ObjectID `bson:"ticketId"`
	Slot      int64              `bson:"slot"`
	OrderID   primitive.ObjectID `bson:"orderId"`
	CreatedAt time.Time          `bson:"createdAt"`
}

// migrateReservations copies each reservation kept the old way into its
// slot in orders (the orders collection), as a claim without state (its
// order is written, or never will be), then drops the old collection. Every slot is kept, over or not, so
// no later slot can be claimed twice; a copy that is there already is
// left as it is, so it is safe to run again and by two processes at once.
func (s *store) migrateReservations(ctx context.Context, orders, legacy *mongo.Collection) error {
	cur, err := legacy.Find(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("reading old reservations: %w", err)
	}
	defer cur.Close(ctx)
	n := 0
	for cur.Next(ctx) {
		var r legacyReservation
		if err := cur.Decode(&r); err != nil {
			return fmt.Errorf("reading old reservations: %w", err)
		}
		rec := outbox.Record{Key: slotKey(r.TicketID, r.Slot), Aggregate: "order/" + r.OrderID.Hex(), At: r.CreatedAt}
		if _, err := orders.InsertOne(ctx, rec); err != nil && !mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("moving reservation %s: %w", r.Key, err)
		}
		n++
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("reading old reservations: %w", err)
	}
	if n == 0 {
		return nil
	}
	if err := legacy.Drop(ctx); err != nil {
		return fmt.Errorf("dropping old reservations (all moved): %w", err)
	}
	return nil
}
