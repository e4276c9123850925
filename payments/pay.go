package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
	"ticketing.dev/common/validate"
)

var (
	errNotOwner  = errors.New("order belongs to another user")
	errCancelled = errors.New("order is cancelled")
	// errRefunded: the order was cancelled (or expired) while it was being
	// paid; the charge was refunded.
	errRefunded = errors.New("order was cancelled while paying; the charge was refunded")
	// errRefundPending: as errRefunded, but the refund has not gone
	// through yet; payments' order:cancelled listener retries it.
	errRefundPending = errors.New("order was cancelled while paying; the charge will be refunded")
	// errRefundBusy: another process is asking Stripe for this refund.
	errRefundBusy = errors.New("refund in progress in another process")
	// errUnknownOutcome: Stripe could not be reached; nothing is stored
	// and a retry reuses the idempotency key.
	errUnknownOutcome = errors.New("payment provider unreachable")
)

// charger takes money and gives it back: Stripe in production, Stripe's
// API shape anywhere.
type charger interface {
	Charge(ctx context.Context, cents int64, token, idempotencyKey string) (chargeID string, err error)
	Refund(ctx context.Context, chargeID, idempotencyKey string) (refundID string, err error)
}

// payer runs the payment workflow: claim the order's one payment, charge,
// record, then wait for orders to decide whether the order was still open
// (complete) or had been cancelled or expired first (refund).
type payer struct {
	store   *store
	charges charger
	// confirmWait bounds the wait for orders' decision; past it the
	// payment stands and a later order:cancelled still refunds it.
	confirmWait time.Duration
	log         *slog.Logger
	// decided wakes payments waiting for their order's outcome: every
	// process watches order:complete and order:cancelled (events.Watch),
	// whichever replica applies them.
	decided waiters
}

// waiters are the payments of this process waiting for an order's outcome.
// It carries the outcome that orders published, so a waiter need not wait
// for its replica to catch up.
type waiters struct {
	mu sync.Mutex
	m  map[primitive.ObjectID][]chan events.OrderStatus
}

func (w *waiters) wait(id primitive.ObjectID) (ch chan events.OrderStatus, cancel func()) {
	ch = make(chan events.OrderStatus, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[primitive.ObjectID][]chan events.OrderStatus{}
	}
	w.m[id] = append(w.m[id], ch)
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.m[id] = slices.DeleteFunc(w.m[id], func(c chan events.OrderStatus) bool { return c == ch })
		if len(w.m[id]) == 0 {
			delete(w.m, id)
		}
	}
}

// decide tells the order's waiters its outcome (hex id, from an event).
func (w *waiters) decide(id string, status events.OrderStatus) {
	oid, err := primitive.ObjectIDFromHex(id)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.m[oid] {
		select {
		case ch <- status:
		default:
		}
	}
}

// pollEvery is how often a waiting payment rereads its order anyway, in
// case its wake-up was missed (the watch is not durable).
const pollEvery = 250 * time.Millisecond

// Pay charges the order's price to token for its owner.
func (p *payer) Pay(ctx context.Context, userID string, orderID primitive.ObjectID, token string) (payment, error) {
	o, err := p.store.Order(ctx, orderID)
	switch {
	case err != nil:
		return payment{}, err
	case o.UserID != userID:
		return payment{}, errNotOwner
	case o.Status == events.StatusCancelled:
		return payment{}, errCancelled
	case o.Status == events.StatusComplete:
		return payment{}, errPaid
	}
	claim, err := p.store.Claim(ctx, o.ID)
	if err != nil {
		return payment{}, err
	}
	// Listen for orders' decision before it can be taken: a cancel that
	// lands while charging is then heard at once.
	decided, stopWaiting := p.decided.wait(o.ID)
	defer stopWaiting()
	attempt, err := p.store.Attempt(ctx, o.ID)
	if err != nil {
		p.store.Abandon(ctx, claim)
		return payment{}, err
	}
	key := fmt.Sprintf("order-%s-attempt-%d", o.ID.Hex(), attempt)
	chargeID, err := p.charges.Charge(ctx, validate.Price(o.Price).Cents(), token, key)
	var declined errDeclined
	switch {
	case errors.As(err, &declined):
		err := p.store.NextAttempt(ctx, o.ID, attempt+1)
		p.store.Abandon(ctx, claim)
		if err != nil {
			return payment{}, err
		}
		return payment{}, declined
	case err != nil:
		// The outcome is unknown; the next attempt reuses the key, so if
		// this charge went through Stripe returns it instead of charging again.
		p.store.Abandon(ctx, claim)
		return payment{}, fmt.Errorf("%w: %w", errUnknownOutcome, err)
	}
	paid, err := p.store.Succeed(context.WithoutCancel(ctx), claim, chargeID)
	if err != nil {
		return payment{}, err
	}
	return paid, p.confirm(ctx, paid, decided)
}

// confirm waits for the order's outcome: complete, or cancelled first (a
// cancel or an expiry won the race), in which case the charge is refunded.
// The outcome comes from orders' event (any replica's watch) or, failing
// that, from the replica.
func (p *payer) confirm(ctx context.Context, paid payment, decided <-chan events.OrderStatus) error {
	deadline := time.Now().Add(p.confirmWait)
	for time.Now().Before(deadline) {
		o, err := p.store.Order(ctx, paid.OrderID)
		if err != nil {
			return err
		}
		status := o.Status
		if status != events.StatusComplete && status != events.StatusCancelled {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case status = <-decided:
			case <-time.After(pollEvery):
				continue
			}
		}
		switch status {
		case events.StatusComplete:
			return nil
		case events.StatusCancelled:
			_, err := p.Refund(context.WithoutCancel(ctx), paid)
			switch {
			case err == nil:
				return errRefunded
			case errors.Is(err, errRefundBusy):
				return errRefundPending // another process is asking Stripe
			default:
				// order:cancelled is not acked until the refund is made.
				p.log.Warn("refund failed; it is retried", "orderId", paid.OrderID.Hex(), "err", err)
				return errRefundPending
			}
		}
	}
	p.log.Warn("order not confirmed in time; the payment stands until orders decides", "orderId", paid.OrderID.Hex())
	return nil
}

// Refund gives a succeeded payment's money back, once. One process at a
// time asks Stripe (a refund claim under the payment's id), so Stripe
// normally sees one request; and the idempotency key is derived from the
// payment, so should a crashed holder's successor ask again, it names the
// same refund. errRefundBusy while another process is asking.
func (p *payer) Refund(ctx context.Context, paid payment) (payment, error) {
	if paid.Status == paymentRefunded {
		return paid, nil
	}
	claim, ok, err := p.store.ClaimRefund(ctx, paid)
	if err != nil {
		return payment{}, err
	}
	if !ok {
		return payment{}, errRefundBusy
	}
	// The claim may be a finished refund's successor: read again.
	if now, err := p.store.Payment(ctx, paid.ID); err != nil || now.Status == paymentRefunded {
		return now, err
	}
	refundID, err := p.charges.Refund(ctx, paid.StripeID, "refund-"+paid.ID.Hex())
	if err != nil {
		p.store.ReleaseRefund(ctx, claim)
		return payment{}, fmt.Errorf("refunding %s: %w", paid.ID.Hex(), err)
	}
	return p.store.Refunded(ctx, paid, refundID)
}
