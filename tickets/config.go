package main

import (
	"ticketing.dev/common/service"
	"ticketing.dev/common/service/backend"
)

// config is everything tickets reads from its environment: what every
// backend reads, nothing of its own.
type config struct {
	backend.Config
}

func loadConfig(getenv func(string) string) (config, error) {
	e := service.NewEnv(getenv)
	c := config{Config: backend.LoadConfig(e)}
	return c, e.Err()
}
