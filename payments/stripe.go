package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/charge"
	"github.com/stripe/stripe-go/v76/refund"
)

// stripeTimeout bounds one charge, retries included; an attempt's claim
// outlives it (chargeDeadline, then claim.StaleAfter), so an attempt is
// never repeated by another process while its charge may be under way.
const stripeTimeout = 30 * time.Second

// stripeCharges creates charges and refunds through Stripe's API.
type stripeCharges struct {
	client  charge.Client
	refunds refund.Client
}

// newStripeCharges talks to Stripe, or to base (e.g. stripe-mock) if set.
func newStripeCharges(key, base string) *stripeCharges {
	cfg := &stripe.BackendConfig{
		HTTPClient:        &http.Client{Timeout: stripeTimeout / 2},
		MaxNetworkRetries: stripe.Int64(1), // retried with the same idempotency key
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if base != "" {
		cfg.URL = stripe.String(base)
	}
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, cfg)
	return &stripeCharges{client: charge.Client{B: backend, Key: key}, refunds: refund.Client{B: backend, Key: key}}
}

// Charge charges amount cents (USD) to the token. The idempotency key makes
// a retried request return the first one's charge instead of a second
// charge. Definitive refusals are errDeclined; anything else (network,
// timeout, Stripe 5xx) leaves the outcome unknown.
func (s *stripeCharges) Charge(ctx context.Context, cents int64, token, idempotencyKey string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, stripeTimeout)
	defer cancel()
	params := &stripe.ChargeParams{
		Amount:   stripe.Int64(cents),
		Currency: stripe.String(string(stripe.CurrencyUSD)),
	}
	params.SetSource(token)
	params.SetIdempotencyKey(idempotencyKey)
	params.Context = ctx
	ch, err := s.client.New(params)
	var se *stripe.Error
	if errors.As(err, &se) && se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 && se.HTTPStatusCode != http.StatusTooManyRequests &&
		se.HTTPStatusCode != http.StatusConflict && se.Type != stripe.ErrorTypeIdempotency {
		return "", errDeclined{msg: se.Msg}
	}
	if err != nil {
		return "", fmt.Errorf("charging through Stripe: %w", err)
	}
	return ch.ID, nil
}

// Refund gives the whole charge back. The idempotency key makes a retry
// (after a timeout, or by another process) return the first refund.
func (s *stripeCharges) Refund(ctx context.Context, chargeID, idempotencyKey string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, stripeTimeout)
	defer cancel()
	params := &stripe.RefundParams{Charge: stripe.String(chargeID)}
	params.SetIdempotencyKey(idempotencyKey)
	params.Context = ctx
	r, err := s.refunds.New(params)
	if err != nil {
		return "", fmt.Errorf("refunding through Stripe: %w", err)
	}
	return r.ID, nil
}
