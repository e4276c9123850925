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

var (
	errEmailInUse = errors.New("email in use")
	errNoUser     = errors.New("no such user")
)

// user is a stored user; Password is the bcrypt hash.
type user struct {
	ID       primitive.ObjectID `bson:"_id"`
	Email    string             `bson:"email"`
	Password string             `bson:"password"`
}

// store is the users collection.
type store struct {
	users *mongo.Collection
}

// newStore ensures the unique index on the (normalised) email: it is what
// makes concurrent signups with one email yield exactly one user.
func newStore(ctx context.Context, db *mongo.Database) (*store, error) {
	users := db.Collection("users")
	_, err := users.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "email", Value: 1}},
		Options: options.Index().SetUnique(true).SetName("email_unique"),
	})
	if err != nil {
		return nil, fmt.Errorf("creating users index: %w", err)
	}
	return &store{users: users}, nil
}

// Create stores a new user, or returns errEmailInUse.
func (s *store) Create(ctx context.Context, email, hash string) (user, error) {
	u := user{ID: primitive.NewObjectID(), Email: email, Password: hash}
	if _, err := s.users.InsertOne(ctx, u); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return user{}, errEmailInUse
		}
		return user{}, fmt.Errorf("inserting user: %w", err)
	}
	return u, nil
}

// ByEmail finds a user by normalised email, or returns errNoUser.
func (s *store) ByEmail(ctx context.Context, email string) (user, error) {
	var u user
	err := s.users.FindOne(ctx, bson.D{{Key: "email", Value: email}}).Decode(&u)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return user{}, errNoUser
	}
	if err != nil {
		return user{}, fmt.Errorf("finding user: %w", err)
	}
	return u, nil
}
