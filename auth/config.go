package main

import (
	"errors"
	"fmt"
	"strconv"
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
		SigninFailureWindow: e.Duration("SIGNIN_FAILURE_WINDOW", 15*time.Minute),
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
