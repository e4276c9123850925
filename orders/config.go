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
	LogLevel         string
}

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
		LogLevel:         e.String("LOG_LEVEL", "info"),
	}
	return c, e.Err()
}
