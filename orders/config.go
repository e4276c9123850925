package main

import (
	"time"

	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
)

// config is everything orders reads from its environment.
type config struct {
	HTTP             service.HTTP
	NATS             service.NATS
	MongoURI         string
	JWTKey           string
	CookieSecure     bool
	SessionTTL       time.Duration
	ExpirationWindow time.Duration
	// MaxOpenOrders caps a buyer's unpaid orders (0: no cap), so that one
	// buyer cannot hold the whole catalogue.
	MaxOpenOrders int
	LogLevel      string
}

// defaultMaxOpenOrders is DESIGN §2a's default cap.
const defaultMaxOpenOrders = 5

// defaultExpirationWindow is how long an unpaid order holds its ticket.
const defaultExpirationWindow = 15 * time.Minute

func loadConfig(getenv func(string) string) (config, error) {
	e := service.NewEnv(getenv)
	c := config{
		HTTP:             e.HTTP(),
		MongoURI:         e.Required("MONGO_URI"),
		JWTKey:           e.Required("JWT_KEY"),
		NATS:             e.NATS(),
		CookieSecure:     e.Bool("COOKIE_SECURE", true),
		SessionTTL:       e.Duration("SESSION_TTL", session.DefaultTTL),
		ExpirationWindow: e.Duration("EXPIRATION_WINDOW", defaultExpirationWindow),
		MaxOpenOrders:    e.Int("MAX_OPEN_ORDERS", defaultMaxOpenOrders, 0),
		LogLevel:         e.String("LOG_LEVEL", "info"),
	}
	return c, e.Err()
}
