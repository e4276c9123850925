package main

import (
	"time"

	"ticketing.dev/common/service"
	"ticketing.dev/common/service/backend"
)

// config is everything orders reads from its environment.
type config struct {
	backend.Config
	ExpirationWindow time.Duration
	// MaxOpenOrders caps a buyer's unpaid orders (0: no cap), so that one
	// buyer cannot hold the whole catalogue.
	MaxOpenOrders int
}

// defaultMaxOpenOrders is docs/CONTRACT.md §2a's default cap.
const defaultMaxOpenOrders = 5

// defaultExpirationWindow is how long an unpaid order holds its ticket.
const defaultExpirationWindow = 15 * time.Minute

func loadConfig(getenv func(string) string) (config, error) {
	e := service.NewEnv(getenv)
	c := config{
		Config:           backend.LoadConfig(e),
		ExpirationWindow: e.Duration("EXPIRATION_WINDOW", defaultExpirationWindow),
		MaxOpenOrders:    e.Int("MAX_OPEN_ORDERS", defaultMaxOpenOrders, 0),
	}
	return c, e.Err()
}
