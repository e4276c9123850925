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

// userStore is the users collection.
type userStore struct {
	c *mongo.Collection
}

// newUserStore ensures the unique index on the (normalised) email: it is
// what makes concurrent signups with one email yield exactly one user.
func newUserStore(ctx context.Context, db *mongo.Database) (*userStore, error) {
	c := db.Collection("users")
	_, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "email", Value: 1}},
		Options: options.Index().SetUnique(true).SetName("email_unique"),
	})
	if err != nil {
		return nil, fmt.Errorf("creating users index: %w", err)
	}
	return &userStore{c: c}, nil
}

// Create stores a new user, or returns errEmailInUse.
func (s *userStore) Create(ctx context.Context, email, hash string) (user, error) {
	u := user{ID: primitive.NewObjectID(), Email: email, Password: hash}
	if _, err := s.c.InsertOne(ctx, u); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return user{}, errEmailInUse
		}
		return user{}, fmt.Errorf("inserting user: %w", err)
	}
	return u, nil
}

// ByEmail finds a user by normalised email, or returns errNoUser.
func (s *userStore) ByEmail(ctx context.Context, email string) (user, error) {
	var u user
	err := s.c.FindOne(ctx, bson.D{{Key: "email", Value: email}}).Decode(&u)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return user{}, errNoUser
	}
	if err != nil {
		return user{}, fmt.Errorf("finding user: %w", err)
	}
	return u, nil
}
