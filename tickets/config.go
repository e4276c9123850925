package main

import (
	"time"

	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
)

// config is everything tickets reads from its environment.
type config struct {
	HTTP         service.HTTP
	NATS         service.NATS
	MongoURI     string
	JWTKey       string
	CookieSecure bool
	SessionTTL   time.Duration
	LogLevel     string
}

func loadConfig(getenv func(string) string) (config, error) {
	e := service.NewEnv(getenv)
	c := config{
		HTTP:         e.HTTP(),
		MongoURI:     e.Required("MONGO_URI"),
		JWTKey:       e.Required("JWT_KEY"),
		NATS:         e.NATS(),
		CookieSecure: e.Bool("COOKIE_SECURE", true),
		SessionTTL:   e.Duration("SESSION_TTL", session.DefaultTTL),
		LogLevel:     e.String("LOG_LEVEL", "info"),
	}
	return c, e.Err()
}
