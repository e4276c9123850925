package main

import (
	"net"
	"time"

	"ticketing.dev/common/events"
	"ticketing.dev/common/service"
)

// config is everything tickets reads from its environment.
type config struct {
	Host          string
	Port          string
	MongoURI      string
	JWTKey        string
	CookieSecure  bool
	NATSURL       string
	NATSClusterID string
	NATSClientID  string
	AckWait       time.Duration
	LogLevel      string
}

func loadConfig(getenv func(string) string) (config, error) {
	e := service.NewEnv(getenv)
	c := config{
		Host:          e.String("HOST", ""),
		Port:          e.Port("PORT", "3000"),
		MongoURI:      e.Required("MONGO_URI"),
		JWTKey:        e.Required("JWT_KEY"),
		CookieSecure:  e.Bool("COOKIE_SECURE", true),
		NATSURL:       e.Required("NATS_URL"),
		NATSClusterID: e.Required("NATS_CLUSTER_ID"),
		NATSClientID:  e.Required("NATS_CLIENT_ID"),
		AckWait:       e.Duration("ACK_WAIT", events.DefaultAckWait),
		LogLevel:      e.String("LOG_LEVEL", "info"),
	}
	return c, e.Err()
}

func (c config) Addr() string { return net.JoinHostPort(c.Host, c.Port) }
