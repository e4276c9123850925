package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/stan.go"

	"ticketing.dev/common/events"
)

// HTTP is where a service listens.
type HTTP struct {
	Host string // empty means every interface
	Port string
	// PprofAddr, when set, serves net/http/pprof there (keep it on
	// loopback): for profiling, never through the ingress.
	PprofAddr string
	// Inherited means the parent process passed the listening socket as
	// file descriptor 3 (LISTEN_FDS=1, systemd's socket-activation
	// convention): the local stack binds every port itself, so no other
	// process can take one between choosing it and the service binding it.
	Inherited bool
	// HSTS sends Strict-Transport-Security on every answer: the service is
	// behind HTTPS (COOKIE_SECURE, on unless a plain-HTTP local run says
	// otherwise).
	HSTS bool
}

// Addr is host:port for net.Listen.
func (h HTTP) Addr() string { return net.JoinHostPort(h.Host, h.Port) }

// HTTP reads HOST, PORT (default 3000), PPROF_ADDR (default off),
// LISTEN_FDS (1: listen on the inherited descriptor 3 instead of PORT) and
// COOKIE_SECURE (default true: HSTS).
func (e *Env) HTTP() HTTP {
	h := HTTP{Host: e.String("HOST", ""), Port: e.Port("PORT", "3000"), PprofAddr: e.String("PPROF_ADDR", ""),
		HSTS: hsts(e.getenv("COOKIE_SECURE"))}
	switch fds := e.String("LISTEN_FDS", ""); fds {
	case "":
	case "1":
		h.Inherited = true
	default:
		e.errs = append(e.errs, fmt.Errorf("LISTEN_FDS=%q: only one inherited listener (1) is supported", fds))
	}
	return h
}

// hsts reads COOKIE_SECURE for HSTS: on unless plainly "false". A value
// that is not a boolean is reported by the service's own COOKIE_SECURE,
// not a second time here.
func hsts(cookieSecure string) bool {
	on, err := strconv.ParseBool(cookieSecure)
	return on || err != nil
}

// NATS is how a service reaches NATS Streaming.
type NATS struct {
	URL       string
	ClusterID string
	ClientID  string
	AckWait   time.Duration
	// MaxDeliveries: tries of one message before it is parked.
	MaxDeliveries int
}

// Listener is the listener options of DESIGN §3 for queue group group,
// parking what fails MaxDeliveries times in park.
func (n NATS) Listener(group string, log *slog.Logger, park events.Parker) events.ListenerOptions {
	return events.ListenerOptions{QueueGroup: group, AckWait: n.AckWait, Logger: log, MaxDeliveries: n.MaxDeliveries, Park: park}
}

// NATS reads NATS_URL, NATS_CLUSTER_ID, NATS_CLIENT_ID (all required) and
// ACK_WAIT (default events.DefaultAckWait) and MAX_DELIVERIES (default
// events.DefaultMaxDeliveries).
func (e *Env) NATS() NATS {
	return NATS{
		URL:           e.Required("NATS_URL"),
		ClusterID:     e.Required("NATS_CLUSTER_ID"),
		ClientID:      e.Required("NATS_CLIENT_ID"),
		AckWait:       e.Duration("ACK_WAIT", events.DefaultAckWait),
		MaxDeliveries: e.Int("MAX_DELIVERIES", events.DefaultMaxDeliveries, 1),
	}
}

// ConnectBus connects to NATS Streaming and returns a context that is
// cancelled, with the reason as its cause, if the connection is lost for
// good: the service then stops and ExitError makes it exit non-zero, so its
// supervisor restarts it with a fresh connection.
func ConnectBus(ctx context.Context, n NATS) (stan.Conn, context.Context, context.CancelCauseFunc, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	conn, err := events.Connect(ctx, n.URL, n.ClusterID, n.ClientID, func(err error) {
		cancel(fmt.Errorf("NATS Streaming connection lost: %w", err))
	})
	if err != nil {
		cancel(nil)
		return nil, nil, nil, err
	}
	return conn, ctx, cancel, nil
}

// BusCheck is a readiness check of the bus connection.
func BusCheck(conn stan.Conn) Check {
	return Check{Name: "nats", Check: events.ReadyCheck(conn)}
}

// ExitError is err, or the reason ctx was cancelled when that was not a
// plain stop (a lost bus), so that such a stop exits non-zero.
func ExitError(ctx context.Context, err error) error {
	if err != nil {
		return err
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return nil
}
