package main

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
)

// queueGroup is orders' durable queue group.
const queueGroup = "orders-service"

// listeners keeps the ticket replica and moves orders through their
// lifecycle on expiration and payment.
type listeners struct {
	store *store
}

// subscribe starts every listener of the service.
func (l *listeners) subscribe(ctx context.Context, conn events.Bus, opts events.ListenerOptions) error {
	return events.Subscriptions(
		func() (events.Subscription, error) { return events.Listen(ctx, conn, opts, l.ticketCreated) },
		func() (events.Subscription, error) { return events.Listen(ctx, conn, opts, l.ticketUpdated) },
		func() (events.Subscription, error) { return events.Listen(ctx, conn, opts, l.expirationComplete) },
		func() (events.Subscription, error) { return events.Listen(ctx, conn, opts, l.paymentCreated) },
		func() (events.Subscription, error) { return events.Listen(ctx, conn, opts, l.paymentRefunded) },
	)
}

func (l *listeners) ticketCreated(ctx context.Context, e events.TicketCreated) error {
	return l.applyTicket(ctx, e.ID, e.Title, e.Price, e.UserID, 0)
}

func (l *listeners) ticketUpdated(ctx context.Context, e events.TicketUpdated) error {
	return l.applyTicket(ctx, e.ID, e.Title, e.Price, e.UserID, e.Version)
}

// applyTicket stores the version if it is the next one; an older one is
// dropped, a future one refused so that it is redelivered after its
// predecessor.
func (l *listeners) applyTicket(ctx context.Context, id, title string, price float64, userID string, version int64) error {
	oid, err := primitive.ObjectIDFromHex(id)
	if err != nil {
		return fmt.Errorf("ticket id %q: %w", id, err)
	}
	return l.store.ApplyTicket(ctx, ticket{ID: oid, Title: title, Price: price, UserID: userID, Version: version})
}

// change applies a lifecycle change to an order (its event goes out with
// it).
func (l *listeners) change(ctx context.Context, orderID string, change func(*order) (bool, error)) error {
	id, err := primitive.ObjectIDFromHex(orderID)
	if err != nil {
		return fmt.Errorf("order id %q: %w", orderID, err)
	}
	_, err = l.store.Change(ctx, id, change)
	return err
}

// expirationComplete cancels the order unless it was paid.
func (l *listeners) expirationComplete(ctx context.Context, e events.ExpirationComplete) error {
	return l.change(ctx, e.OrderID, func(o *order) (bool, error) {
		if o.Status == events.StatusComplete || o.Status == events.StatusCancelled {
			return false, nil
		}
		o.cancel(cancelledByExpiry)
		return true, nil
	})
}

// paymentCreated completes the order if it is still open. An order that
// was cancelled or expired first stays cancelled: its ticket may be someone
// else's by now, and payments refunds the charge when it sees the order
// cancelled (docs/CONTRACT.md §2a: nobody pays without a ticket).
func (l *listeners) paymentCreated(ctx context.Context, e events.PaymentCreated) error {
	return l.change(ctx, e.OrderID, func(o *order) (bool, error) {
		if !o.active() || o.Status == events.StatusComplete {
			return false, nil
		}
		o.Status = events.StatusComplete
		return true, nil
	})
}

// paymentRefunded records that the late payment of a cancelled order was
// given back, so the buyer sees it on the order.
func (l *listeners) paymentRefunded(ctx context.Context, e events.PaymentRefunded) error {
	id, err := primitive.ObjectIDFromHex(e.OrderID)
	if err != nil {
		return fmt.Errorf("order id %q: %w", e.OrderID, err)
	}
	return l.store.RecordRefund(ctx, refund{OrderID: id, PaymentID: e.ID, RefundID: e.RefundID, At: l.store.now().UTC().Truncate(time.Millisecond)})
}
