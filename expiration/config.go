package main

import (
	"net"

	"ticketing.dev/common/service"
)

// config is everything expiration reads from its environment.
type config struct {
	HTTP      service.HTTP
	NATS      service.NATS
	RedisHost string
	RedisPort string
	LogLevel  string
}

func loadConfig(getenv func(string) string) (config, error) {
	e := service.NewEnv(getenv)
	c := config{
		HTTP:      e.HTTP(),
		NATS:      e.NATS(),
		RedisHost: e.Required("REDIS_HOST"),
		RedisPort: e.Port("REDIS_PORT", "6379"),
		LogLevel:  e.LogLevel(),
	}
	return c, e.Err()
}

func (c config) RedisAddr() string { return net.JoinHostPort(c.RedisHost, c.RedisPort) }
