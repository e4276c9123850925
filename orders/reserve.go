package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
)

var (
	// errOwnTicket: a seller cannot buy their own listing.
	errOwnTicket = errors.New("ticket is the buyer's own listing")
	// errComplete: a paid order cannot be cancelled.
	errComplete = errors.New("order is complete")
)

// tooManyOpen refuses a reservation to a buyer who has the most unpaid
// orders allowed at once.
type tooManyOpen struct{ open int }

func (e *tooManyOpen) Error() string { return fmt.Sprintf("buyer has %d unpaid orders", e.open) }

// reserver places buyers' orders: an order reserves its ticket for window,
// within the cap on a buyer's unpaid orders.
type reserver struct {
	store   *store
	window  time.Duration
	maxOpen int // 0: no cap
}

// Reserve orders the ticket for userID and returns the order with the
// ticket it reserves: errNoTicket, errOwnTicket, *tooManyOpen or
// errReserved when it cannot.
func (rv *reserver) Reserve(ctx context.Context, userID string, ticketID primitive.ObjectID) (order, ticket, error) {
	t, err := rv.store.Ticket(ctx, ticketID)
	if err != nil {
		return order{}, ticket{}, err
	}
	if t.UserID != "" && t.UserID == userID {
		return order{}, ticket{}, errOwnTicket
	}
	if rv.maxOpen > 0 {
		// Checked before reserving: concurrent requests of one buyer can
		// overshoot by those in flight; the cap is against hoarding, not a
		// guarantee like one order per ticket.
		open, err := rv.store.OpenOrders(ctx, userID)
		if err != nil {
			return order{}, ticket{}, err
		}
		if open >= rv.maxOpen {
			return order{}, ticket{}, &tooManyOpen{open: open}
		}
	}
	o, err := rv.store.Reserve(ctx, t, userID, rv.window)
	if err != nil {
		return order{}, ticket{}, err
	}
	return o, t, nil
}

// cancelOrder cancels an order that is not paid (errComplete if it is);
// cancelling a cancelled order again changes nothing.
func cancelOrder(o *order) (bool, error) {
	switch o.Status {
	case events.StatusComplete:
		return false, errComplete
	case events.StatusCancelled:
		return false, nil
	}
	o.cancel(cancelledByBuyer)
	return true, nil
}
