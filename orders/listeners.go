package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/stan.go"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
)

// queueGroup is orders' durable queue group.
const queueGroup = "orders-service"

// listeners keeps the ticket replica and moves orders through their
// lifecycle on expiration and payment.
type listeners struct {
	store *store
	relay *outbox.Relay
	log   *slog.Logger
}

func (l *listeners) subscribe(ctx context.Context, conn stan.Conn, ackWait time.Duration) ([]stan.Subscription, error) {
	opts := events.ListenerOptions{QueueGroup: queueGroup, AckWait: ackWait, Logger: l.log}
	return events.Subscriptions(
		func() (stan.Subscription, error) { return events.Listen(ctx, conn, opts, l.ticketCreated) },
		func() (stan.Subscription, error) { return events.Listen(ctx, conn, opts, l.ticketUpdated) },
		func() (stan.Subscription, error) { return events.Listen(ctx, conn, opts, l.expirationComplete) },
		func() (stan.Subscription, error) { return events.Listen(ctx, conn, opts, l.paymentCreated) },
	)
}

func (l *listeners) ticketCreated(ctx context.Context, e events.TicketCreated) error {
	return l.applyTicket(ctx, e.ID, e.Title, e.Price, 0)
}

func (l *listeners) ticketUpdated(ctx context.Context, e events.TicketUpdated) error {
	return l.applyTicket(ctx, e.ID, e.Title, e.Price, e.Version)
}

// applyTicket stores the version if it is the next one; an older one is
// dropped, a future one refused so that it is redelivered after its
// predecessor.
func (l *listeners) applyTicket(ctx context.Context, id, title string, price float64, version int64) error {
	oid, err := primitive.ObjectIDFromHex(id)
	if err != nil {
		return fmt.Errorf("ticket id %q: %w", id, err)
	}
	_, err = l.store.ApplyTicket(ctx, ticket{ID: oid, Title: title, Price: price, Version: version})
	if errors.Is(err, errStale) {
		return fmt.Errorf("ticket %s version %d arrived before its predecessor", id, version)
	}
	return err
}

// change applies a lifecycle change to an order and publishes its event.
func (l *listeners) change(ctx context.Context, orderID string, change func(*order) (events.Event, error)) error {
	id, err := primitive.ObjectIDFromHex(orderID)
	if err != nil {
		return fmt.Errorf("order id %q: %w", orderID, err)
	}
	if _, err := l.store.Change(ctx, id, change); err != nil {
		return err
	}
	// Also after a no-op: an earlier attempt may have stored the change
	// but not published it.
	return l.relay.Flush(ctx, id)
}

// expirationComplete cancels the order unless it was paid.
func (l *listeners) expirationComplete(ctx context.Context, e events.ExpirationComplete) error {
	return l.change(ctx, e.OrderID, func(o *order) (events.Event, error) {
		if o.Status == events.StatusComplete || o.Status == events.StatusCancelled {
			return nil, nil
		}
		o.Status = events.StatusCancelled
		return events.OrderCancelled{}, nil
	})
}

// paymentCreated completes the order. A payment that lands on an order
// cancelled meanwhile (it expired while the charge was under way) still
// completes it if its ticket can be taken back; otherwise the customer paid
// for a ticket someone else now holds, which needs a refund.
func (l *listeners) paymentCreated(ctx context.Context, e events.PaymentCreated) error {
	return l.change(ctx, e.OrderID, func(o *order) (events.Event, error) {
		switch o.Status {
		case events.StatusComplete:
			return nil, nil
		case events.StatusCancelled:
			err := l.store.Reclaim(ctx, *o)
			if errors.Is(err, errReserved) {
				l.log.Error("payment for a cancelled order whose ticket is taken: refund needed",
					"orderId", e.OrderID, "paymentId", e.ID, "stripeId", e.StripeID)
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
		}
		o.Status = events.StatusComplete
		return events.OrderComplete{}, nil
	})
}
