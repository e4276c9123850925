package main

import (
	"time"

	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
)

// config is everything payments reads from its environment.
type config struct {
	HTTP          service.HTTP
	NATS          service.NATS
	MongoURI      string
	JWTKey        string
	CookieSecure  bool
	SessionTTL    time.Duration
	StripeKey     string
	StripeAPIBase string // another Stripe endpoint, such as stripe-mock
	// ConfirmWait bounds how long a payment waits for orders to confirm
	// the order (or report it cancelled, and the charge is refunded).
	ConfirmWait time.Duration
	LogLevel    string
}

func loadConfig(getenv func(string) string) (config, error) {
	e := service.NewEnv(getenv)
	c := config{
		HTTP:          e.HTTP(),
		MongoURI:      e.Required("MONGO_URI"),
		JWTKey:        e.Required("JWT_KEY"),
		NATS:          e.NATS(),
		StripeKey:     e.Required("STRIPE_KEY"),
		StripeAPIBase: e.String("STRIPE_API_BASE", ""),
		ConfirmWait:   e.Duration("PAYMENT_CONFIRM_WAIT", 10*time.Second),
		CookieSecure:  e.Bool("COOKIE_SECURE", true),
		SessionTTL:    e.Duration("SESSION_TTL", session.DefaultTTL),
		LogLevel:      e.String("LOG_LEVEL", "info"),
	}
	return c, e.Err()
}
