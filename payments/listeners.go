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
)

// queueGroup is payments' durable queue group.
const queueGroup = "payments-service"

// listeners keeps the order replica.
type listeners struct {
	store *store
	log   *slog.Logger
}

func (l *listeners) subscribe(ctx context.Context, conn stan.Conn, ackWait time.Duration) ([]stan.Subscription, error) {
	opts := events.ListenerOptions{QueueGroup: queueGroup, AckWait: ackWait, Logger: l.log}
	return events.Subscriptions(
		func() (stan.Subscription, error) { return events.Listen(ctx, conn, opts, l.orderCreated) },
		func() (stan.Subscription, error) { return events.Listen(ctx, conn, opts, l.orderCancelled) },
		func() (stan.Subscription, error) { return events.Listen(ctx, conn, opts, l.orderComplete) },
	)
}

func (l *listeners) orderCreated(ctx context.Context, e events.OrderCreated) error {
	id, err := primitive.ObjectIDFromHex(e.ID)
	if err != nil {
		return fmt.Errorf("order id %q: %w", e.ID, err)
	}
	return l.store.CreateOrder(ctx, order{ID: id, UserID: e.UserID, Status: e.Status, Price: e.Ticket.Price, Version: e.Version})
}

func (l *listeners) orderCancelled(ctx context.Context, e events.OrderCancelled) error {
	return l.status(ctx, e.ID, e.Version, events.StatusCancelled)
}

func (l *listeners) orderComplete(ctx context.Context, e events.OrderComplete) error {
	return l.status(ctx, e.ID, e.Version, events.StatusComplete)
}

func (l *listeners) status(ctx context.Context, orderID string, version int64, status events.OrderStatus) error {
	id, err := primitive.ObjectIDFromHex(orderID)
	if err != nil {
		return fmt.Errorf("order id %q: %w", orderID, err)
	}
	err = l.store.ApplyStatus(ctx, id, version, status)
	if errors.Is(err, errStale) {
		return fmt.Errorf("order %s version %d: %w", orderID, version, err)
	}
	return err
}
