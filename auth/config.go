package main

import (
	"net"

	"ticketing.dev/common/service"
)

// config is everything auth reads from its environment.
type config struct {
	Host         string // listen host; empty means every interface
	Port         string
	MongoURI     string
	JWTKey       string
	CookieSecure bool
	LogLevel     string
}

func loadConfig(getenv func(string) string) (config, error) {
	e := service.NewEnv(getenv)
	c := config{
		Host:         e.String("HOST", ""),
		Port:         e.Port("PORT", "3000"),
		MongoURI:     e.Required("MONGO_URI"),
		JWTKey:       e.Required("JWT_KEY"),
		CookieSecure: e.Bool("COOKIE_SECURE", true),
		LogLevel:     e.String("LOG_LEVEL", "info"),
	}
	return c, e.Err()
}

func (c config) Addr() string { return net.JoinHostPort(c.Host, c.Port) }
