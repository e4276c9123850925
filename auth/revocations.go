package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
)

// revocations keeps every signed-out session in auth's database and
// announces it with session:revoked, through the outbox: the revocation is
// claimed by an insert under a unique key, and its event is published by
// whichever process gets to it, even after a crash or a bus outage.
type revocations struct {
	agg *outbox.Aggregates
}

// revocationDoc is one revoked token, at version 0 for ever.
type revocationDoc struct {
	ID       primitive.ObjectID `bson:"_id"`
	Version  int64              `bson:"version"`
	UserID   string             `bson:"userId"`
	IssuedAt int64              `bson:"iat"`
	TokenID  string             `bson:"jti,omitempty"`
	Until    time.Time          `bson:"until"`
}

// newRevocations needs no index of its own: revocations are only written,
// by _id (the outbox log's index covers their relay).
func newRevocations(_ context.Context, db *mongo.Database, olog *outbox.Log) (*revocations, error) {
	return &revocations{agg: olog.Aggregates("revocation", db.Collection("revocations"))}, nil
}

// revoke records the revocation and queues its event. Revoking a token
// twice (two copies of one cookie signing out) is one revocation.
func (r *revocations) revoke(ctx context.Context, e events.SessionRevoked) error {
	id := revocationID(e)
	doc := revocationDoc{ID: id, UserID: e.UserID, IssuedAt: e.IssuedAt, TokenID: e.TokenID, Until: e.Until}
	err := r.agg.Commit(ctx, id, 0, doc, e)
	if errors.Is(err, outbox.ErrConflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("revoking session %s: %w", e.Key(), err)
	}
	return nil
}

// revocationID derives the outbox's ObjectID from the token's key, so that
// one token always maps to one claim, whichever process revokes it.
func revocationID(e events.SessionRevoked) primitive.ObjectID {
	sum := sha256.Sum256([]byte(e.Key()))
	var id primitive.ObjectID
	copy(id[:], sum[:len(id)])
	return id
}
