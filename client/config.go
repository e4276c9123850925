package main

import (
	"time"

	"ticketing.dev/common/service"
)

// config is everything the client reads from its environment.
type config struct {
	HTTP         service.HTTP
	AuthURL      string
	TicketsURL   string
	OrdersURL    string
	PaymentsURL  string
	StripeKey    string // publishable key; empty shows the test-mode payment form
	CookieSecure bool
	Timeout      time.Duration
	LogLevel     string
	// NATS is the bus the live updates come from (NATS_URL,
	// NATS_CLUSTER_ID, NATS_CLIENT_ID, all required).
	NATS service.NATS
}

// Defaults are the APIs' Kubernetes service names, by which the client
// calls them in-cluster.
func loadConfig(getenv func(string) string) (config, error) {
	e := service.NewEnv(getenv)
	c := config{
		HTTP:         e.HTTP(),
		AuthURL:      e.String("AUTH_URL", "http://auth-srv:3000"),
		TicketsURL:   e.String("TICKETS_URL", "http://tickets-srv:3000"),
		OrdersURL:    e.String("ORDERS_URL", "http://orders-srv:3000"),
		PaymentsURL:  e.String("PAYMENTS_URL", "http://payments-srv:3000"),
		StripeKey:    e.String("STRIPE_PUBLISHABLE_KEY", ""),
		CookieSecure: e.Bool("COOKIE_SECURE", true),
		Timeout:      e.Duration("BACKEND_TIMEOUT", 10*time.Second),
		LogLevel:     e.LogLevel(),
		NATS:         e.NATS(),
	}
	return c, e.Err()
}
