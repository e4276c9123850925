package main

import (
	"context"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
)

// queueGroup is tickets' durable queue group.
const queueGroup = "tickets-service"

// releasedOrdersKept bounds ReleasedOrders.
const releasedOrdersKept = 10

// listeners applies order events to the reservation lock.
type listeners struct {
	store *store
}

// subscribe starts every listener of the service.
func (l *listeners) subscribe(ctx context.Context, conn events.Bus, opts events.ListenerOptions) error {
	return events.Subscriptions(
		func() (events.Subscription, error) { return events.Listen(ctx, conn, opts, l.orderCreated) },
		func() (events.Subscription, error) { return events.Listen(ctx, conn, opts, l.orderCancelled) },
		func() (events.Subscription, error) { return events.Listen(ctx, conn, opts, l.orderComplete) },
	)
}

// change applies a change to the ticket named by an order event (its
// event goes out with it). Unknown tickets are an error, so the event is
// redelivered (its ticket:created may not have been stored yet).
func (l *listeners) change(ctx context.Context, ticketID string, change func(*ticket) (bool, error)) error {
	id, err := primitive.ObjectIDFromHex(ticketID)
	if err != nil {
		return fmt.Errorf("ticket id %q: %w", ticketID, err)
	}
	_, err = l.store.Change(ctx, id, change)
	return err
}

// orderCreated locks the ticket for the order.
func (l *listeners) orderCreated(ctx context.Context, e events.OrderCreated) error {
	return l.change(ctx, e.Ticket.ID, func(t *ticket) (bool, error) {
		switch {
		case t.OrderID == e.ID, slices.Contains(t.ReleasedOrders, e.ID):
			return false, nil // already applied, or already over
		case t.OrderID != "":
			// Another order still holds it: its order:cancelled is on its way.
			return false, fmt.Errorf("ticket %s is reserved by order %s, not %s", t.ID.Hex(), t.OrderID, e.ID)
		}
		t.OrderID = e.ID
		return true, nil
	})
}

// orderCancelled releases the ticket if this order holds it.
func (l *listeners) orderCancelled(ctx context.Context, e events.OrderCancelled) error {
	return l.change(ctx, e.Ticket.ID, func(t *ticket) (bool, error) {
		if slices.Contains(t.ReleasedOrders, e.ID) {
			return false, nil // already applied
		}
		// Remember the order even if it never got to hold the ticket, so a
		// late order:created for it is not applied.
		t.ReleasedOrders = append(t.ReleasedOrders, e.ID)
		if len(t.ReleasedOrders) > releasedOrdersKept {
			t.ReleasedOrders = t.ReleasedOrders[len(t.ReleasedOrders)-releasedOrdersKept:]
		}
		if t.OrderID == e.ID {
			t.OrderID = ""
		}
		return true, nil
	})
}

// orderComplete marks the ticket sold when its order is paid. The change is
// a new version with its ticket:updated (orderId kept), like any other, so
// replicas stay in step.
//
// order:complete rides on its own subscription, so it can arrive before
// the order:created it follows. A paid order held the ticket in orders'
// view, so on a free ticket it is applied in one step (reserved by the
// order and sold), and the late order:created then finds it applied. While
// another order still holds the ticket, that order's order:cancelled is on
// its way: the event is refused and redelivered.
func (l *listeners) orderComplete(ctx context.Context, e events.OrderComplete) error {
	return l.change(ctx, e.Ticket.ID, func(t *ticket) (bool, error) {
		switch {
		case t.OrderID == e.ID && t.Sold:
			return false, nil // already applied
		case slices.Contains(t.ReleasedOrders, e.ID):
			// Cancelled orders are never completed (a late charge is
			// refunded): nothing to sell.
			return false, nil
		case t.OrderID != "" && t.OrderID != e.ID:
			return false, fmt.Errorf("ticket %s is reserved by order %s, not the paid order %s", t.ID.Hex(), t.OrderID, e.ID)
		}
		t.OrderID = e.ID
		t.Sold = true
		return true, nil
	})
}
