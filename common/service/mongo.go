package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/readpref"
	"go.mongodb.org/mongo-driver/x/mongo/driver/connstring"
)

// ConnectMongo connects to uri and returns the database named in its path
// (mongodb://auth-mongo-srv:27017/auth), or defaultDB when it names none.
// It does not wait for the server: readiness reports that (MongoCheck).
// extra options apply on top (metrics.Mongo's command monitor).
func ConnectMongo(uri, defaultDB string, extra ...*options.ClientOptions) (*mongo.Database, error) {
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return nil, fmt.Errorf("MONGO_URI: %w", err)
	}
	name := cs.Database
	if name == "" {
		name = defaultDB
	}
	opts := append([]*options.ClientOptions{options.Client().
		ApplyURI(uri).
		SetServerSelectionTimeout(5 * time.Second).
		SetTimeout(10 * time.Second)}, extra...)
	client, err := mongo.Connect(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to MongoDB: %w", err)
	}
	return client.Database(name), nil
}

// MongoCheck is a readiness check that pings db's server.
func MongoCheck(db *mongo.Database) Check {
	return Check{Name: "mongodb", Check: func(ctx context.Context) error {
		return db.Client().Ping(ctx, readpref.Primary())
	}}
}

// WithDatabase puts db in the path of a mongodb:// URI, keeping its hosts and
// options: one server, one database per service.
func WithDatabase(uri, db string) string {
	base, query, _ := strings.Cut(uri, "?")
	scheme, rest, _ := strings.Cut(base, "://")
	hosts, _, _ := strings.Cut(rest, "/")
	out := scheme + "://" + hosts + "/" + db
	if query != "" {
		out += "?" + query
	}
	return out
}
