package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/events"
	"ticketing.dev/common/httpapi"
)

// Paging of GET /api/orders (docs/CONTRACT.md §2b): limit, after and status
// page a buyer's orders newest first; without any of them the answer is the
// original's, every order oldest first.
//
// Cost: the filter is the buyer's userId and an _id range, served on
// MongoDB by the {userId, _id} index (N+1 documents read). FerretDB pushes
// down only the userId equality (GIN-indexed), so there the range, status
// and sort are evaluated over the buyer's own orders: the cost follows one
// buyer's history, which MAX_OPEN_ORDERS and people's patience keep small,
// never the number of orders or tickets.

const (
	defaultOrderPage = 20
	maxOrderPage     = 100
)

// orderPage is one page request.
type orderPage struct {
	limit    int
	statuses []events.OrderStatus
	// cursor is the order the page starts beside: older ones follow it
	// (next), or, when newer, the newer ones precede it (prev).
	cursor primitive.ObjectID
	newer  bool
}

var orderStatuses = []events.OrderStatus{events.StatusCreated, events.StatusCancelled, events.StatusAwaitingPayment, events.StatusComplete}

// parseOrderPage reads the paging parameters; paged is false when none is
// given. Every bad value is a 400 naming its field.
func parseOrderPage(q url.Values) (p orderPage, paged bool, err error) {
	p.limit = defaultOrderPage
	var bad []httpapi.Detail
	if v, ok := q["limit"]; ok {
		paged = true
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > maxOrderPage {
			bad = append(bad, httpapi.Detail{Field: "limit", Message: fmt.Sprintf("limit must be a whole number from 1 to %d", maxOrderPage)})
		}
		p.limit = n
	}
	if v, ok := q["status"]; ok {
		paged = true
		for _, s := range strings.Split(v[0], ",") {
			st := events.OrderStatus(strings.TrimSpace(s))
			if !slices.Contains(orderStatuses, st) {
				bad = append(bad, httpapi.Detail{Field: "status", Message: "status must be created, cancelled, awaiting:payment or complete, comma-separated"})
				break
			}
			p.statuses = append(p.statuses, st)
		}
	}
	if v, ok := q["after"]; ok {
		paged = true
		if p.cursor, p.newer, err = decodeOrderCursor(v[0]); err != nil {
			bad = append(bad, httpapi.Detail{Field: "after", Message: "after must be a cursor from a Link of this list"})
		}
	}
	if bad != nil {
		return orderPage{}, true, httpapi.Validation(bad...)
	}
	return p, paged, nil
}

// A cursor is opaque to clients: base64url of "o" (older than) or "n"
// (newer than) and the order id. A plain order id means older than it.
func encodeOrderCursor(id primitive.ObjectID, newer bool) string {
	dir := "o"
	if newer {
		dir = "n"
	}
	return base64.RawURLEncoding.EncodeToString([]byte(dir + id.Hex()))
}

func decodeOrderCursor(s string) (primitive.ObjectID, bool, error) {
	if id, err := primitive.ObjectIDFromHex(s); err == nil {
		return id, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 25 || (b[0] != 'o' && b[0] != 'n') {
		return primitive.NilObjectID, false, fmt.Errorf("bad cursor %q", s)
	}
	id, err := primitive.ObjectIDFromHex(string(b[1:]))
	return id, b[0] == 'n', err
}

// PageOf returns one page of a buyer's orders, newest first, and the
// cursors of the pages beside it ("" when there is none).
func (s *store) PageOf(ctx context.Context, userID string, p orderPage) (page []order, next, prev string, err error) {
	filter := bson.D{{Key: "userId", Value: userID}}
	if len(p.statuses) > 0 {
		filter = append(filter, bson.E{Key: "status", Value: bson.D{{Key: "$in", Value: p.statuses}}})
	}
	dir := -1 // newest first
	if !p.cursor.IsZero() {
		op := "$lt"
		if p.newer {
			op, dir = "$gt", 1 // the newer ones nearest the cursor, reversed below
		}
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: op, Value: p.cursor}}})
	}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: dir}}).SetLimit(int64(p.limit) + 1)
	cur, err := s.ordersColl.Find(ctx, filter, opts)
	if err != nil {
		return nil, "", "", fmt.Errorf("paging orders: %w", err)
	}
	page = []order{}
	if err := cur.All(ctx, &page); err != nil {
		return nil, "", "", fmt.Errorf("paging orders: %w", err)
	}
	more := len(page) > p.limit
	if more {
		page = page[:p.limit]
	}
	if p.newer {
		slices.Reverse(page)
	}
	if len(page) == 0 {
		return page, "", "", nil
	}
	first, last := page[0].ID, page[len(page)-1].ID
	// Moving away from the cursor, more is what lies beyond; towards it,
	// the cursor's own side always holds at least the cursor's order.
	switch {
	case p.newer:
		next = encodeOrderCursor(last, false)
		if more {
			prev = encodeOrderCursor(first, true)
		}
	default:
		if more {
			next = encodeOrderCursor(last, false)
		}
		if !p.cursor.IsZero() {
			prev = encodeOrderCursor(first, true)
		}
	}
	return page, next, prev, nil
}
