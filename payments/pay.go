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
	// errUnknownOutcome: Stripe could not be reached; the charge is marked
	// uncertain on the order's attempt, and a retry repeats it.
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
	claim, att, err := p.claim(ctx, o, token)
	if err != nil {
		return payment{}, err
	}
	// Read the order again under the claim: a cancel applied before the
	// claim was inserted found no payment to wait for (its listener has
	// moved on), so nothing may be charged now.
	if o, err = p.store.Order(ctx, orderID); err != nil || o.Status == events.StatusCancelled {
		p.store.Abandon(ctx, claim)
		if err != nil {
			return payment{}, err
		}
		return payment{}, errCancelled
	}
	// Listen for orders' decision before it can be taken: a cancel that
	// lands while charging is then heard at once.
	decided, stopWaiting := p.decided.wait(o.ID)
	defer stopWaiting()
	intent := *claim.Intent
	chargeID, err := p.charges.Charge(ctx, intent.Cents, intent.Token, intent.Key)
	var declined errDeclined
	switch {
	case errors.As(err, &declined):
		err := p.store.NextAttempt(ctx, o.ID, att.N+1)
		p.store.Abandon(ctx, claim)
		if err != nil {
			return payment{}, err
		}
		return payment{}, declined
	case err != nil:
		// The outcome is unknown: the charge may have been made. The next
		// attempt repeats it (same key and token), so Stripe returns it
		// instead of charging again; should the order be cancelled first,
		// the order:cancelled listener repeats it and refunds.
		err = fmt.Errorf("%w: %w", errUnknownOutcome, err)
		if mark := p.store.MarkUncertain(ctx, o.ID, intent); mark != nil {
			// The claim, which holds the charge, stays: once stale it is
			// taken over and its charge repeated.
			return payment{}, errors.Join(err, mark)
		}
		p.store.Abandon(ctx, claim)
		return payment{}, err
	}
	paid, err := p.store.Succeed(context.WithoutCancel(ctx), claim, chargeID)
	if err != nil {
		return payment{}, err
	}
	if att.Uncertain != nil {
		if err := p.store.ClearUncertain(ctx, o.ID); err != nil {
			p.log.Warn("a settled charge stays marked uncertain; a cancel would repeat it harmlessly", "orderId", o.ID.Hex(), "err", err)
		}
	}
	return paid, p.confirm(ctx, paid, decided)
}

// claim takes the order's payment claim for its current attempt: a new
// charge of token, or the repeat of a charge whose answer was lost (the
// same request, so Stripe answers with its outcome).
func (p *payer) claim(ctx context.Context, o order, token string) (payment, attempt, error) {
	// The attempt is read before claiming, to store the charge in the
	// claim, and again after: a decline by the claim's previous holder may
	// have moved it on meanwhile.
	att, err := p.store.Attempt(ctx, o.ID)
	if err != nil {
		return payment{}, attempt{}, err
	}
	for range 3 {
		intent := chargeIntent{Key: att.key(o.ID), Cents: validate.Price(o.Price).Cents(), Token: token}
		if att.Uncertain != nil {
			intent = *att.Uncertain
		}
		claim, err := p.store.Claim(ctx, o.ID, intent)
		if err != nil {
			return payment{}, attempt{}, err
		}
		now, err := p.store.Attempt(ctx, o.ID)
		if err != nil {
			// A charge the claim took over from a crash was marked
			// uncertain first (Claim), so abandoning loses nothing.
			p.store.Abandon(ctx, claim)
			return payment{}, attempt{}, err
		}
		// claim.Intent is a crashed claim's, if it took one over.
		if now.N == att.N && (now.Uncertain == nil) == (att.Uncertain == nil) {
			return claim, att, nil
		}
		p.store.Abandon(ctx, claim)
		att = now
	}
	return payment{}, attempt{}, errInProgress
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

// settleUncertain makes sure a cancelled order leaves no charge behind
// whose answer was lost (crashed, the charge of a stale claim; or
// unreachable, the attempt's uncertain charge). It repeats the charge
// (same key and parameters): Stripe answers with what the first request
// did, or makes it now, and a charge is refunded at once. Once nothing is
// uncertain it is a no-op; an error leaves the event to be redelivered.
func (p *payer) settleUncertain(ctx context.Context, orderID primitive.ObjectID, crashed *payment) error {
	att, err := p.store.Attempt(ctx, orderID)
	if err != nil {
		return err
	}
	intent := att.Uncertain
	if intent == nil && crashed != nil {
		intent = crashed.Intent
	}
	if intent == nil {
		return nil
	}
	claim, err := p.store.Claim(ctx, orderID, *intent) // takes over the crashed claim
	if err != nil {
		// Paid meanwhile (redelivered, the payment is refunded) or another
		// process is charging (redelivered until it is done).
		return fmt.Errorf("settling order %s's charge of unknown outcome (Stripe key %s): %w", orderID.Hex(), intent.Key, err)
	}
	intent = claim.Intent // the crashed claim's, should it have taken one over
	chargeID, err := p.charges.Charge(ctx, intent.Cents, intent.Token, intent.Key)
	var declined errDeclined
	switch {
	case errors.As(err, &declined):
		err := p.store.NextAttempt(ctx, orderID, att.N+1) // nothing was charged
		p.store.Abandon(ctx, claim)
		return err
	case err != nil:
		err = fmt.Errorf("settling order %s's charge of unknown outcome (Stripe key %s): %w", orderID.Hex(), intent.Key, err)
		if mark := p.store.MarkUncertain(ctx, orderID, *intent); mark != nil {
			return errors.Join(err, mark) // the claim keeps the charge
		}
		p.store.Abandon(ctx, claim)
		return err
	}
	paid, err := p.store.Succeed(context.WithoutCancel(ctx), claim, chargeID)
	if err != nil {
		return err
	}
	if _, err := p.Refund(context.WithoutCancel(ctx), paid); err != nil {
		return err // redelivered: the succeeded payment's refund is retried
	}
	p.log.Info("refunded a charge of unknown outcome for a cancelled order", "orderId", orderID.Hex(), "paymentId", paid.ID.Hex())
	return p.store.ClearUncertain(ctx, orderID)
}
