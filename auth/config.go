package main

import (
	"time"

	"ticketing.dev/common/service"
	"ticketing.dev/common/service/backend"
)

// config is everything auth reads from its environment.
type config struct {
	backend.Config
	// SigninMaxFailures failed sign-ins of one account within
	// SigninFailureWindow lock its sign-in (0: never).
	SigninMaxFailures   int
	SigninFailureWindow time.Duration
	// now is the throttle's clock: nil (time.Now) but in tests.
	now func() time.Time
}

func loadConfig(getenv func(string) string) (config, error) {
	e := service.NewEnv(getenv)
	c := config{
		Config:              backend.LoadConfig(e),
		SigninMaxFailures:   e.Int("SIGNIN_MAX_FAILURES", 10, 0),
		SigninFailureWindow: e.Duration("SIGNIN_FAILURE_WINDOW", 15*time.Minute),
	}
	return c, e.Err()
}
