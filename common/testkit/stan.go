package testkit

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	stand "github.com/nats-io/nats-streaming-server/server"
	"github.com/nats-io/stan.go"

	"ticketing.dev/common/events"
)

// ClusterID is the cluster id of the contract.
const ClusterID = "ticketing"

// STAN is an embedded NATS Streaming server (memory store) for one test.
type STAN struct {
	URL    string
	server *stand.StanServer
	seq    atomic.Int64
}

// NewSTAN starts a NATS Streaming server on a free loopback port, stopped
// when t ends. Each test gets its own, so durable positions never leak
// between tests (it starts in ~30 ms).
func NewSTAN(t testing.TB) *STAN {
	t.Helper()
	s, err := StartSTAN(stand.GetDefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// StartSTAN starts a server with the given streaming options (cluster id and
// loopback listener are set here); the caller shuts it down.
func StartSTAN(opts *stand.Options) (*STAN, error) {
	opts.ID = ClusterID
	nopts := stand.DefaultNatsServerOptions
	nopts.Host = "127.0.0.1"
	nopts.Port = -1
	nopts.NoLog = true
	nopts.NoSigs = true
	srv, err := stand.RunServerWithOpts(opts, &nopts)
	if err != nil {
		return nil, fmt.Errorf("starting NATS Streaming: %w", err)
	}
	return &STAN{URL: srv.ClientURL(), server: srv}, nil
}

// Shutdown stops the server.
func (s *STAN) Shutdown() { s.server.Shutdown() }

// Connect opens a client connection with a unique client id, closed when t
// ends.
func (s *STAN) Connect(t testing.TB) stan.Conn {
	t.Helper()
	id := fmt.Sprintf("test-%d-%d", time.Now().UnixNano(), s.seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sc, err := events.Connect(ctx, s.URL, ClusterID, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Close() })
	return sc
}

// Publish publishes e on conn, failing the test on error: the way a test
// delivers an event to the listener under test.
func Publish[E events.Event](t testing.TB, conn stan.Conn, e E) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := events.NewPublisher[E](conn).Publish(ctx, e); err != nil {
		t.Fatal(err)
	}
}
