package main

import (
	"context"
	"fmt"
	"log/slog"

	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
)

// queueGroup is payments' durable queue group.
const queueGroup = "payments-service"

// listeners keeps the order replica, and refunds a payment whose order
// turns out cancelled.
type listeners struct {
	store *store
	payer *payer
	log   *slog.Logger
}

// subscribe starts every listener of the service.
func (l *listeners) subscribe(ctx context.Context, conn events.Bus, opts events.ListenerOptions) error {
	return events.Subscriptions(
		func() (events.Subscription, error) { return events.Listen(ctx, conn, opts, l.orderCreated) },
		func() (events.Subscription, error) { return events.Listen(ctx, conn, opts, l.orderCancelled) },
		func() (events.Subscription, error) { return events.Listen(ctx, conn, opts, l.orderComplete) },
		// Wake this process's waiting payments, whichever replica applies
		// the outcome.
		func() (events.Subscription, error) {
			return events.Watch(conn, func(e events.OrderComplete) { l.payer.decided.decide(e.ID, events.StatusComplete) })
		},
		func() (events.Subscription, error) {
			return events.Watch(conn, func(e events.OrderCancelled) { l.payer.decided.decide(e.ID, events.StatusCancelled) })
		},
	)
}

func (l *listeners) orderCreated(ctx context.Context, e events.OrderCreated) error {
	id, err := primitive.ObjectIDFromHex(e.ID)
	if err != nil {
		return fmt.Errorf("order id %q: %w", e.ID, err)
	}
	return l.store.ApplyOrder(ctx, order{ID: id, UserID: e.UserID, Status: e.Status, Price: e.Ticket.Price, Version: e.Version})
}

// orderCancelled applies the cancellation and refunds a payment that was
// made for the order anyway (it was cancelled or expired while paying):
// nobody pays without a ticket.
func (l *listeners) orderCancelled(ctx context.Context, e events.OrderCancelled) error {
	id, err := l.status(ctx, e.ID, e.Version, events.StatusCancelled)
	if err != nil {
		return err
	}
	paid, found, err := l.store.PaymentOf(ctx, id)
	if err != nil {
		return err
	}
	switch {
	case !found:
		// A charge whose answer was lost may have been made.
		return l.payer.settleUncertain(ctx, id, nil)
	case paid.Status == paymentPending:
		if l.store.now().Sub(paid.CreatedAt) < claimTimeout {
			// A charge is under way: hold the event until it is settled,
			// so that a charge it makes is refunded (redelivered until then).
			return fmt.Errorf("order %s: a payment is being charged; its refund is decided once it is settled", e.ID)
		}
		// Left by a crash mid-charge: no buyer can retry a cancelled
		// order, so settle it here.
		return l.payer.settleUncertain(ctx, id, &paid)
	case paid.Status == paymentRefunded:
		// A charge of unknown outcome that a repeat turned into this
		// payment is settled: its token goes.
		return l.store.ClearUncertain(ctx, id)
	}
	if _, err := l.payer.Refund(ctx, paid); err != nil {
		return err // redelivered: retried until Stripe confirms
	}
	l.log.Info("refunded a payment for an order cancelled first", "orderId", e.ID, "paymentId", paid.ID.Hex())
	return l.store.ClearUncertain(ctx, id)
}

func (l *listeners) orderComplete(ctx context.Context, e events.OrderComplete) error {
	_, err := l.status(ctx, e.ID, e.Version, events.StatusComplete)
	return err
}

// status applies the order's status at version (once, in order).
func (l *listeners) status(ctx context.Context, orderID string, version int64, status events.OrderStatus) (primitive.ObjectID, error) {
	id, err := primitive.ObjectIDFromHex(orderID)
	if err != nil {
		return id, fmt.Errorf("order id %q: %w", orderID, err)
	}
	o, err := l.store.Order(ctx, id)
	if err != nil {
		return id, fmt.Errorf("order %s version %d: %w", orderID, version, err)
	}
	if o.Version >= version {
		return id, nil // applied already
	}
	o.Status, o.Version = status, version
	return id, l.store.ApplyOrder(ctx, o)
}
