package main

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
	"ticketing.dev/tickets/catalog"
)

// The catalogue's read model (docs/CONTRACT.md §2b): every process keeps
// the whole catalogue in memory (package catalog), because the engine
// cannot range, sort or search (FerretDB filters those in Go over every
// row). It is built at start from the database and kept current from the
// process's own writes (at once) and every process's ticket events (the
// others' writes, within the bus's delivery time). A ticket's own page is
// still read from the database.

// item is the catalogue's copy of t.
func (t ticket) item() catalog.Item {
	return catalog.Item{ID: t.ID, Title: t.Title, Price: t.Price, UserID: t.UserID, OrderID: t.OrderID, Sold: t.Sold, Version: t.Version}
}

// follow keeps the catalogue current from ticket events. It subscribes
// before load reads the database, so a write is seen by one or the other
// (a version seen twice is applied once).
func (s *store) follow(conn events.Bus) (func(), error) {
	created, err := events.Watch(conn, func(e events.TicketCreated) {
		if id, err := primitive.ObjectIDFromHex(e.ID); err == nil {
			s.catalog.Put(catalog.Item{ID: id, Title: e.Title, Price: e.Price, UserID: e.UserID, Version: e.Version})
		}
	})
	if err != nil {
		return nil, fmt.Errorf("watching ticket:created: %w", err)
	}
	updated, err := events.Watch(conn, func(e events.TicketUpdated) {
		if id, err := primitive.ObjectIDFromHex(e.ID); err == nil {
			s.catalog.Put(catalog.Item{ID: id, Title: e.Title, Price: e.Price, UserID: e.UserID, OrderID: e.OrderID, Sold: e.Sold, Version: e.Version})
		}
	})
	if err != nil {
		_ = created.Close()
		return nil, fmt.Errorf("watching ticket:updated: %w", err)
	}
	return func() {
		_ = created.Close()
		_ = updated.Close()
	}, nil
}

// load puts every stored ticket in the catalogue, streaming them from the
// database (one pass at start, never per request).
func (s *store) load(ctx context.Context) error {
	cur, err := s.ticketsColl.Find(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("loading the catalogue: %w", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		if cur.Current.Lookup("_id").Type != bson.TypeObjectID {
			continue // a new ticket's outbox record, kept with it until published
		}
		var t ticket
		if err := cur.Decode(&t); err != nil {
			return fmt.Errorf("loading the catalogue: %w", err)
		}
		s.catalog.Put(t.item())
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("loading the catalogue: %w", err)
	}
	return nil
}
