package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/validate"
)

// charger takes money and gives it back: Stripe in production, Stripe's
// API shape anywhere.
type charger interface {
	Charge(ctx context.Context, cents int64, token, idempotencyKey string) (chargeID string, err error)
	Refund(ctx context.Context, chargeID, idempotencyKey string) (refundID string, err error)
}

// payer runs the payment workflow: claim an attempt slot of the order,
// charge, record the outcome, then wait for orders to decide whether the
// order was still open (complete) or had been cancelled or expired first
// (refund).
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

// pollEvery is how often a waiting payment reads its order anyway, in case
// its wake-up was missed (the watch is not durable).
const pollEvery = 250 * time.Millisecond

// longest is how long a payment request may run: its charge, then the
// wait for orders' decision (a refund after a cancel may add its own
// charge deadline; the slots keep such a repeat safe all the same).
func (p *payer) longest() time.Duration { return chargeDeadline + p.confirmWait }

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
	// Listen for orders' decision before it can be taken: one that lands
	// while charging is heard at once.
	decided, stopWaiting := p.decided.wait(o.ID)
	defer stopWaiting()
	at, err := p.attempt(ctx, o, token)
	if err != nil {
		return payment{}, err
	}
	// The attempt is ours (or a dead holder's, repeated): see it through
	// even if the buyer goes away, within the holder's deadline.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), chargeDeadline)
	defer cancel()
	paid, err := p.charge(wctx, at)
	if err != nil {
		return payment{}, err
	}
	return paid, p.confirm(ctx, paid, decided)
}

// attempt claims the order's next attempt for a charge of token, or finds
// the attempt whose charge must be repeated first (its answer was lost, or
// its holder died): Stripe then answers with that charge's outcome.
// A cancel that the order:cancelled listener saw with no attempt takes a
// slot of its own (closed), so an attempt claimed after it cannot charge.
func (p *payer) attempt(ctx context.Context, o order, token string) (payment, error) {
	cents := validate.Price(o.Price).Cents()
	for n := int64(0); ; n++ {
		mine := payment{ID: primitive.NewObjectID(), Status: paymentPending,
			Intent: &chargeIntent{Key: attemptKey(o.ID, n), Cents: cents, Token: token}}
		held, won, err := p.store.Take(ctx, o.ID, n, mine)
		switch {
		case err != nil:
			return payment{}, err
		case won:
			return held, nil
		}
		switch held.Status {
		case paymentDeclined:
			continue // nothing was charged: the next slot
		case paymentSucceeded, paymentRefunding, paymentRefunded:
			return payment{}, errPaid
		case paymentClosed:
			return payment{}, errCancelled
		case paymentPending:
			if !p.store.stale(held) {
				return payment{}, errInProgress
			}
		}
		return held, nil // uncertain, or its holder died: repeat it
	}
}

// charge makes (or repeats) the attempt's charge and records its outcome:
// the succeeded payment, errDeclined (the attempt is over) or
// errUnknownOutcome (it is uncertain: the next attempt repeats it).
func (p *payer) charge(ctx context.Context, at payment) (payment, error) {
	intent := *at.Intent
	chargeID, err := p.charges.Charge(ctx, intent.Cents, intent.Token, intent.Key)
	var declined errDeclined
	switch {
	case errors.As(err, &declined):
		_, rerr := p.outcome(ctx, at, func(d *payment) { d.Status, d.Intent = paymentDeclined, nil }, nil)
		return payment{}, cmp.Or[error](rerr, declined)
	case err != nil:
		err = fmt.Errorf("%w: %w", errUnknownOutcome, err)
		if at.Status == paymentPending {
			// Recorded so that the next attempt repeats it at once; left
			// pending, it is repeated once stale all the same.
			if _, merr := p.outcome(ctx, at, func(d *payment) { d.Status = paymentUncertain }, nil); merr != nil {
				return payment{}, errors.Join(err, merr)
			}
		}
		return payment{}, err
	}
	paid, err := p.outcome(ctx, at, func(d *payment) { d.Status, d.StripeID, d.Intent = paymentSucceeded, chargeID, nil },
		func(d payment) events.Event {
			return events.PaymentCreated{ID: d.ID.Hex(), OrderID: d.OrderID.Hex(), StripeID: d.StripeID}
		})
	if err == nil && paid.Status != paymentSucceeded {
		err = fmt.Errorf("payment %s was recorded %s meanwhile", paid.ID.Hex(), paid.Status)
	}
	return paid, err
}

// outcome records set's change of an attempt as its next version (with
// ev's event, if ev is not nil), on top of what another process recorded
// meanwhile: an outcome it decided (another process repeating the same
// charge, which Stripe answers alike) is returned as it is; a pending or
// uncertain one is decided here.
func (p *payer) outcome(ctx context.Context, at payment, set func(*payment), ev func(payment) events.Event) (payment, error) {
	cur := at
	for range 3 {
		next := cur
		set(&next)
		var e events.Event
		if ev != nil {
			e = ev(next)
		}
		got, err := p.store.Next(ctx, next, e)
		if !errors.Is(err, outbox.ErrConflict) {
			return got, err
		}
		if got.Status != paymentPending && got.Status != paymentUncertain {
			return got, nil
		}
		cur = got
	}
	return cur, errInProgress
}

// confirm waits for the order's outcome: complete, or cancelled first (a
// cancel or an expiry won the race), in which case the charge is refunded.
// The outcome comes from orders' event (any replica's watch) or, failing
// that, from the replica.
func (p *payer) confirm(ctx context.Context, paid payment, decided <-chan events.OrderStatus) error {
	deadline := time.After(p.confirmWait)
	for {
		var status events.OrderStatus
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			p.log.Warn("order not confirmed in time; the payment stands until orders decides", "orderId", paid.OrderID.Hex())
			return nil
		case status = <-decided:
		case <-time.After(pollEvery):
			o, err := p.store.Order(ctx, paid.OrderID)
			if err != nil {
				return err
			}
			status = o.Status
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
}

// Refund gives a succeeded payment's money back, once. One process at a
// time asks Stripe: it claims the refund as the payment's next version
// (refunding), so Stripe normally sees one request; the idempotency key is
// derived from the payment, so a dead holder's successor, repeating it once
// the claim is stale, names the same refund. errRefundBusy while another
// process is asking.
func (p *payer) Refund(ctx context.Context, paid payment) (payment, error) {
	for range 3 {
		switch {
		case paid.Status == paymentRefunded:
			return paid, nil
		case paid.Status == paymentRefunding && !p.store.stale(paid):
			return payment{}, errRefundBusy
		case paid.Status == paymentSucceeded:
			claim := paid
			now := p.store.now().UTC().Truncate(time.Millisecond)
			claim.Status, claim.RefundingAt = paymentRefunding, &now
			won, err := p.store.Next(ctx, claim, nil)
			if errors.Is(err, outbox.ErrConflict) {
				paid = won // another process got there first: see what it did
				continue
			}
			if err != nil {
				return payment{}, err
			}
			paid = won
		case paid.Status != paymentRefunding:
			return payment{}, fmt.Errorf("payment %s is %s: nothing to refund", paid.ID.Hex(), paid.Status)
		}
		return p.refund(ctx, paid)
	}
	return payment{}, errRefundBusy
}

// refund asks Stripe for a refunding payment's refund and records it.
func (p *payer) refund(ctx context.Context, refunding payment) (payment, error) {
	refundID, err := p.charges.Refund(ctx, refunding.StripeID, "refund-"+refunding.ID.Hex())
	if err != nil {
		// Let go at once, so that a retry need not wait for the claim to
		// go stale.
		back := refunding
		back.Status, back.RefundingAt = paymentSucceeded, nil
		if _, berr := p.store.Next(ctx, back, nil); berr != nil && !errors.Is(berr, outbox.ErrConflict) {
			err = errors.Join(err, berr)
		}
		return payment{}, fmt.Errorf("refunding %s: %w", refunding.ID.Hex(), err)
	}
	done := refunding
	done.Status, done.RefundID, done.RefundingAt = paymentRefunded, refundID, nil
	ev := events.PaymentRefunded{ID: done.ID.Hex(), OrderID: done.OrderID.Hex(), StripeID: done.StripeID, RefundID: refundID}
	recorded, err := p.store.Next(ctx, done, ev)
	if errors.Is(err, outbox.ErrConflict) {
		if recorded.Status == paymentRefunded {
			return recorded, nil // a repeat by another process recorded it
		}
		// Another process put the payment back to succeeded (its own try
		// failed after this one's claim went stale): not refunded as far
		// as the record says; the redelivery tries again.
		return payment{}, errRefundBusy
	}
	return recorded, err
}

// settle makes sure a cancelled order leaves no charge behind: it repeats a
// charge whose answer was lost or whose holder died (Stripe answers with
// what the first request did, or makes it now) and refunds what was
// charged. It returns errDeclined when the repeat learnt that nothing was
// charged (the attempt is over); any other error leaves the event to be
// redelivered.
func (p *payer) settle(ctx context.Context, at payment) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), chargeDeadline)
	defer cancel()
	paid, err := p.charge(wctx, at)
	if err != nil {
		return fmt.Errorf("settling order %s's charge of unknown outcome (Stripe key %s): %w", at.OrderID.Hex(), at.Intent.Key, err)
	}
	if _, err := p.Refund(wctx, paid); err != nil {
		return err // redelivered: the succeeded payment's refund is retried
	}
	p.log.Info("refunded a charge of unknown outcome for a cancelled order", "orderId", at.OrderID.Hex(), "paymentId", paid.ID.Hex())
	return nil
}
