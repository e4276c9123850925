package main

import (
	"context"
	"errors"
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

// orderCancelled applies the cancellation and makes sure nobody pays for
// the order: a charge made for it anyway (it was cancelled or expired while
// paying) is refunded, one whose outcome is unknown is repeated to learn
// it, and an order with no charge gets a closed slot, which no attempt can
// be claimed after.
func (l *listeners) orderCancelled(ctx context.Context, e events.OrderCancelled) error {
	id, err := l.status(ctx, e.ID, e.Version, events.StatusCancelled)
	if err != nil {
		return err
	}
	for range 5 {
		latest, found, err := l.store.Latest(ctx, id)
		if err != nil {
			return err
		}
		next := int64(0)
		switch {
		case !found:
		case latest.Status == paymentClosed || latest.Status == paymentRefunded:
			return nil
		case latest.Status == paymentDeclined:
			next = latest.N + 1
		case latest.Status == paymentPending && !l.store.stale(latest):
			// A charge is under way: hold the event until it is settled,
			// so that a charge it makes is refunded (redelivered until then).
			return fmt.Errorf("order %s: a payment is being charged; its refund is decided once it is settled", e.ID)
		case latest.Status == paymentPending || latest.Status == paymentUncertain:
			// Its answer was lost, or its holder died: no buyer can retry a
			// cancelled order, so settle it here.
			err := l.payer.settle(ctx, latest)
			var declined errDeclined
			if !errors.As(err, &declined) {
				return err
			}
			continue // nothing was charged: close the next slot
		default: // succeeded, or refunding
			if _, err := l.payer.Refund(ctx, latest); err != nil {
				return err // redelivered: retried until Stripe confirms
			}
			l.log.Info("refunded a payment for an order cancelled first", "orderId", e.ID, "paymentId", latest.ID.Hex())
			return nil
		}
		_, won, err := l.store.Take(ctx, id, next, payment{ID: primitive.NewObjectID(), Status: paymentClosed})
		if err != nil || won {
			return err
		}
		// An attempt took the slot first: see what it does.
	}
	return fmt.Errorf("order %s: its payments kept changing; retried on redelivery", e.ID)
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
	if err := l.store.ApplyStatus(ctx, id, version, status); err != nil {
		return id, fmt.Errorf("order %s version %d: %w", orderID, version, err)
	}
	return id, nil
}
