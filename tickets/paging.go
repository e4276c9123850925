package main

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Paging (docs/CONTRACT.md §2a): GET /api/tickets?limit=N[&after=<id>] answers at
// most N tickets, oldest first, after the ticket <id>, with
// Link: </api/tickets?limit=N&after=<last id>>; rel="next" while more
// remain. Without limit the answer is every ticket, as the original's.
//
// Cost: the cursor is the _id, so on MongoDB a page is a range scan of the
// _id index, N+1 documents read. FerretDB pushes down only equality
// (docs/CONTRACT.md §6), so there {_id: {$gt: after}} is filtered in Go over every
// row, as the unpaged list always was: a page costs about one full list
// of the database's work but sends only N tickets to the client and the
// browser. No cheaper correct cursor exists on that engine without a
// field kept per page, which every write would have to maintain.

// maxPageSize bounds limit, so one request cannot ask for everything
// under another name.
const maxPageSize = 100

// pageQuery is a list request's paging (parsePage reads it from the query);
// limit 0 means every ticket.
type pageQuery struct {
	limit int
	after primitive.ObjectID
}

// Page returns up to limit tickets after p.after, oldest first, and
// whether more remain (one more is read to know).
func (s *store) Page(ctx context.Context, p pageQuery) ([]ticket, bool, error) {
	filter := bson.D{}
	if !p.after.IsZero() {
		filter = bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: p.after}}}}
	}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
	if p.limit > 0 {
		opts.SetLimit(int64(p.limit) + 1)
	}
	cur, err := s.ticketsColl.Find(ctx, filter, opts)
	if err != nil {
		return nil, false, fmt.Errorf("listing tickets: %w", err)
	}
	out := []ticket{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, false, fmt.Errorf("listing tickets: %w", err)
	}
	if p.limit > 0 && len(out) > p.limit {
		return out[:p.limit], true, nil
	}
	return out, false, nil
}
