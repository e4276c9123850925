package stack

import (
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
)

// busStack is a stack that runs only its bus, from a natsbus built for
// the test (the go build cache makes a rebuild cheap).
func busStack(t *testing.T, bus string, servers int) *Stack {
	t.Helper()
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-o", bin+"/", "./infra/cmd/natsbus")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	s := &Stack{con: &console{out: io.Discard}, cfg: Config{
		DataDir: t.TempDir(), BinDir: bin, NATSAddr: "127.0.0.1:0", Bus: bus, NATSServers: servers,
	}}
	t.Cleanup(s.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, s.startBus(ctx))
	return s
}

// connect opens a client of the stack's bus; the first connection to a
// starting cluster waits for the stream to have its leader.
func connect(t *testing.T, s *Stack, id string) events.Bus {
	t.Helper()
	cfg := s.Bus()
	cfg.ClientID = id
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := events.Connect(ctx, cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func publish(t *testing.T, b events.Bus, e events.TicketCreated) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, events.NewPublisher[events.TicketCreated](b).Publish(ctx, e))
}

// lastTicket is the id in the last ticket:created the bus holds.
func lastTicket(t *testing.T, b events.Bus) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, found, err := b.Last(ctx, events.SubjectTicketCreated)
	require.NoError(t, err)
	require.True(t, found, "the bus lost its messages")
	var e events.TicketCreated
	require.NoError(t, json.Unmarshal(m.Data, &e))
	return e.ID
}

// waitRestarted waits until bus server i runs again under a new pid and
// the bus serves.
func waitRestarted(t *testing.T, s *Stack, i, old int) {
	t.Helper()
	require.Eventually(t, func() bool { pid := s.BusPID(i); return pid != 0 && pid != old }, 15*time.Second, 20*time.Millisecond,
		"the supervisor restarts a killed bus server")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, s.WaitForBus(ctx))
}

func TestTheBusRunsAsItsOwnProcessAndComesBackWithItsDataWhenKilled(t *testing.T) {
	for _, bus := range []string{events.KindSTAN, events.KindJetStream} {
		t.Run(bus, func(t *testing.T) {
			s := busStack(t, bus, 1)
			require.Equal(t, 1, s.BusServers())
			cfg := s.Bus()
			assert.Equal(t, bus, cfg.Kind)
			publish(t, connect(t, s, "before"), events.TicketCreated{ID: "kept", Title: "gig", Price: 5, UserID: "u"})

			old := s.BusPID(0)
			require.NotZero(t, old)
			require.NoError(t, s.KillBus(0))
			waitRestarted(t, s, 0, old)
			assert.Equal(t, cfg, s.Bus(), "back on the same address")
			b := connect(t, s, "after")
			assert.Equal(t, "kept", lastTicket(t, b), "the file store outlives the process")
		})
	}
}

func TestAThreeServerJetStreamClusterKeepsTakingEventsWithOneServerDown(t *testing.T) {
	s := busStack(t, events.KindJetStream, 3)
	require.Equal(t, 3, s.BusServers())
	cfg := s.Bus()
	assert.Equal(t, 3, cfg.Replicas)
	b := connect(t, s, "client")
	publish(t, b, events.TicketCreated{ID: "t1", Title: "gig", Price: 5, UserID: "u"})

	old := s.BusPID(1)
	start := time.Now()
	require.NoError(t, s.KillBus(1))
	publish(t, b, events.TicketCreated{ID: "t2", Title: "gig", Price: 5, UserID: "u"}) // 2 of 3 are a quorum
	t.Logf("published with a server down in %s", time.Since(start))
	assert.Equal(t, "t2", lastTicket(t, b))
	waitRestarted(t, s, 1, old)
	t.Logf("back in %s", time.Since(start))
}
