package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
)

// config is everything auth reads from its environment.
type config struct {
	HTTP         service.HTTP
	NATS         service.NATS
	MongoURI     string
	JWTKey       string
	CookieSecure bool
	SessionTTL   time.Duration
	// SigninMaxFailures failed sign-ins of one account within
	// SigninFailureWindow lock its sign-in (0: never).
	SigninMaxFailures   int
	SigninFailureWindow time.Duration
	LogLevel            string
	// now is the throttle's clock: nil (time.Now) but in tests.
	now func() time.Time
}

func loadConfig(getenv func(string) string) (config, error) {
	e := service.NewEnv(getenv)
	c := config{
		HTTP:                e.HTTP(),
		MongoURI:            e.Required("MONGO_URI"),
		JWTKey:              e.Required("JWT_KEY"),
		NATS:                e.NATS(),
		CookieSecure:        e.Bool("COOKIE_SECURE", true),
		SessionTTL:          e.Duration("SESSION_TTL", session.DefaultTTL),
		SigninFailureWindow: e.Duration("SIGNIN_FAILURE_WINDOW", 15*time.Minute),
		LogLevel:            e.String("LOG_LEVEL", "info"),
	}
	max, err := nonNegativeInt(getenv, "SIGNIN_MAX_FAILURES", 10)
	c.SigninMaxFailures = max
	return c, errors.Join(e.Err(), err)
}

// nonNegativeInt parses an integer ≥ 0, def when unset.
func nonNegativeInt(getenv func(string) string, name string, def int) (int, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return def, fmt.Errorf("environment variable %s=%q is not a whole number ≥ 0", name, v)
	}
	return n, nil
}
