package main

import (
	"context"

	"ticketing.dev/common/events"
)

// queueGroup is expiration's durable queue group.
const queueGroup = "expiration-service"

// listeners turns order:created into a scheduled expiry.
type listeners struct {
	jobs *scheduler
}

// subscribe starts every listener of the service.
func (l *listeners) subscribe(ctx context.Context, conn events.Bus, opts events.ListenerOptions) error {
	return events.Subscriptions(
		func() (events.Subscription, error) { return events.Listen(ctx, conn, opts, l.orderCreated) },
	)
}

// orderCreated schedules the order's expiry; the event is acked only once
// the task is stored.
func (l *listeners) orderCreated(ctx context.Context, e events.OrderCreated) error {
	return l.jobs.schedule(ctx, e.ID, e.ExpiresAt)
}
