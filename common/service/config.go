// Package service holds the plumbing every service's main wires together:
// configuration from the environment, logging, the HTTP server's lifecycle,
// health endpoints, and the MongoDB connection.
package service

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Env reads configuration from a getenv function, collecting every problem so
// that a misconfigured service names all of them at once, one per line.
type Env struct {
	getenv func(string) string
	errs   []error
}

// NewEnv reads from getenv (os.Getenv in main, a map in tests).
func NewEnv(getenv func(string) string) *Env {
	return &Env{getenv: getenv}
}

// Required returns the variable's value, recording an error when it is unset.
func (e *Env) Required(name string) string {
	v := e.getenv(name)
	if v == "" {
		e.errs = append(e.errs, fmt.Errorf("missing required environment variable %s", name))
	}
	return v
}

// String returns the variable's value or def when unset.
func (e *Env) String(name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}

// OneOf returns the variable's value, def when unset; a value not in
// allowed is recorded as an error.
func (e *Env) OneOf(name, def string, allowed ...string) string {
	v := e.String(name, def)
	if !slices.Contains(allowed, v) {
		e.errs = append(e.errs, fmt.Errorf("environment variable %s=%q is not one of %s", name, v, strings.Join(allowed, ", ")))
	}
	return v
}

// Bool parses a boolean (true/false/1/0), def when unset.
func (e *Env) Bool(name string, def bool) bool {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("environment variable %s=%q is not a boolean", name, v))
	}
	return b
}

// Duration parses a Go duration such as "15m", def when unset. It must be > 0.
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		e.errs = append(e.errs, fmt.Errorf("environment variable %s=%q is not a positive duration like 15m or 30s", name, v))
	}
	return d
}

// Int returns a whole number of at least least (default def), validated.
func (e *Env) Int(name string, def, least int) int {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < least {
		e.errs = append(e.errs, fmt.Errorf("environment variable %s=%q is not a whole number of at least %d", name, v, least))
	}
	return n
}

// Port returns a TCP port number (default def), validated.
func (e *Env) Port(name string, def string) string {
	v := e.String(name, def)
	if n, err := strconv.Atoi(v); err != nil || n < 0 || n > 65535 {
		e.errs = append(e.errs, fmt.Errorf("environment variable %s=%q is not a port number", name, v))
	}
	return v
}

// LogLevel reads LOG_LEVEL (default info): debug, info, warn or error, in
// any case, as NewLogger takes it. Every service and the local stack read
// it here, so a misspelt level stops them at start instead of quietly
// logging at info.
func (e *Env) LogLevel() string {
	v := e.String("LOG_LEVEL", "info")
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(v))); err != nil {
		e.errs = append(e.errs, fmt.Errorf("environment variable LOG_LEVEL=%q is not one of debug, info, warn, error", v))
	}
	return v
}

// Err returns every problem found, one per line, or nil.
func (e *Env) Err() error {
	return errors.Join(e.errs...)
}
