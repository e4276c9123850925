package main

import (
	"time"

	"ticketing.dev/common/service"
	"ticketing.dev/common/service/backend"
)

// config is everything payments reads from its environment.
type config struct {
	backend.Config
	StripeKey     string
	StripeAPIBase string // another Stripe endpoint, such as stripe-mock
	// ConfirmWait bounds how long a payment waits for orders to confirm
	// the order (or report it cancelled, and the charge is refunded).
	ConfirmWait time.Duration
}

func loadConfig(getenv func(string) string) (config, error) {
	e := service.NewEnv(getenv)
	c := config{
		Config:        backend.LoadConfig(e),
		StripeKey:     e.Required("STRIPE_KEY"),
		StripeAPIBase: e.String("STRIPE_API_BASE", ""),
		ConfirmWait:   e.Duration("PAYMENT_CONFIRM_WAIT", 10*time.Second),
	}
	return c, e.Err()
}
