package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/hibiken/asynq"

	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
)

// taskExpireOrder is the asynq task type that ends an order's window.
const taskExpireOrder = "order:expire"

// Scheduling and retry tuning.
const (
	// checkInterval is how often asynq moves due tasks to the queue and
	// looks for work. asynq stores due times in whole seconds, and tasks
	// are scheduled at the next whole second, so a task fires between 0 s
	// and about 1 s + checkInterval after its expiresAt, never before.
	checkInterval = 100 * time.Millisecond
	// maxRetry bounds publish retries (about 14 h in all with the back-off below).
	maxRetry = 25
	// retention keeps a fired task's id in Redis, so an order:created
	// redelivered after the task ran does not schedule it again.
	retention = 24 * time.Hour
)

type expirePayload struct {
	OrderID string `json:"orderId"`
	// ExpiresAt is the order's, for the lateness metric; tasks stored
	// before it was added have none.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

// taskID makes scheduling idempotent: one task per order.
func taskID(orderID string) string { return "expire-order-" + orderID }

// scheduler stores each order's expiry as a delayed task in Redis.
type scheduler struct {
	client *asynq.Client
}

// schedule stores the order's expiry task, due at expiresAt; a task that
// already exists (order:created redelivered) counts as success.
func (s *scheduler) schedule(ctx context.Context, orderID string, expiresAt time.Time) error {
	payload, err := json.Marshal(expirePayload{OrderID: orderID, ExpiresAt: expiresAt})
	if err != nil {
		return fmt.Errorf("encoding expiry of order %s: %w", orderID, err)
	}
	due := expiresAt.Truncate(time.Second)
	if due.Before(expiresAt) {
		due = due.Add(time.Second) // round up: never fire early
	}
	_, err = s.client.EnqueueContext(ctx, asynq.NewTask(taskExpireOrder, payload),
		asynq.TaskID(taskID(orderID)), asynq.ProcessAt(due), asynq.MaxRetry(maxRetry), asynq.Retention(retention))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("scheduling expiry of order %s: %w", orderID, err)
	}
	return nil
}

// expirer publishes expiration:complete when a task fires; a publish
// failure fails the task, which asynq retries with back-off.
type expirer struct {
	pub     *events.Publisher[events.ExpirationComplete]
	log     *slog.Logger
	metrics *metrics.Expiration
}

func newExpirer(conn events.Bus, log *slog.Logger, m *metrics.Expiration) *expirer {
	return &expirer{pub: events.NewPublisher[events.ExpirationComplete](conn), log: log, metrics: m}
}

func (x *expirer) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p expirePayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.OrderID == "" {
		return fmt.Errorf("bad %s payload %q: %w", taskExpireOrder, t.Payload(), asynq.SkipRetry)
	}
	if err := x.pub.Publish(ctx, events.ExpirationComplete{OrderID: p.OrderID}); err != nil {
		return err
	}
	if !p.ExpiresAt.IsZero() && x.metrics != nil {
		x.metrics.Fired(p.ExpiresAt, time.Now())
	}
	x.log.Info("order expired", "orderId", p.OrderID)
	return nil
}

// retryDelay backs off exponentially from 1 s to at most 1 h.
func retryDelay(n int, _ error, _ *asynq.Task) time.Duration {
	return time.Duration(math.Min(math.Pow(2, float64(n)), 3600)) * time.Second
}

// slogAdapter gives asynq a structured logger.
//
// Fatal logs at error level and does not exit, although asynq's Logger
// interface says it should: asynq (v0.26) never calls it, and exiting from
// inside the worker would skip run's deferred shutdown (the running task,
// the bus connection).
type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Debug(args ...any) { a.log.Debug(fmt.Sprint(args...)) }
func (a slogAdapter) Info(args ...any)  { a.log.Info(fmt.Sprint(args...)) }
func (a slogAdapter) Warn(args ...any)  { a.log.Warn(fmt.Sprint(args...)) }
func (a slogAdapter) Error(args ...any) { a.log.Error(fmt.Sprint(args...)) }
func (a slogAdapter) Fatal(args ...any) { a.log.Error(fmt.Sprint(args...)) }
