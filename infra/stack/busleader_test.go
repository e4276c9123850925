package stack

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
)

func TestLeadersNamesTheServerWhoseKillStopsPublishesUntilTheOthersElectAnotherAndARestartHandsItOver(t *testing.T) {
	s := busStack(t, events.KindJetStream, 3)
	b := connect(t, s, "client")
	// A durable consumer, as a service's queue group makes one.
	sub, err := b.Listen(events.SubjectTicketCreated, events.QueueOptions{Group: "test-service", AckWait: 5 * time.Second}, func(m events.Msg) { _ = m.Ack() })
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	publish(t, b, events.TicketCreated{ID: "t1", Title: "gig", Price: 5, UserID: "u"})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, s.WaitForBusWhole(ctx))
	before, err := s.Leaders(ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, before.Stream, 0)
	require.Less(t, before.Stream, 3)
	consumer := events.ConsumerName("test-service", events.SubjectTicketCreated)
	require.Contains(t, before.Consumers, consumer)
	assert.Len(t, before.Consumers, 1, "ordered consumers are not the bus's")

	old := s.BusPID(before.Stream)
	start := time.Now()
	require.NoError(t, s.KillBus(before.Stream))
	publish(t, b, events.TicketCreated{ID: "t2", Title: "gig", Price: 5, UserID: "u"})
	t.Logf("a publish with the stream's leader killed took %s (the election)", time.Since(start))
	waitRestarted(t, s, before.Stream, old)
	require.NoError(t, s.WaitForBusWhole(ctx))
	t.Logf("whole again %s after the kill", time.Since(start))
	// Asked once every copy is current: while the killed server led a
	// consumer too, that consumer answers no info until its own election.
	after, err := s.Leaders(ctx)
	require.NoError(t, err)
	// The publish above went through with the leader dead: an election
	// took place. Afterwards Leaders still names one of the servers (the
	// restarted one may have won it: the supervisor restarts it at once).
	require.Contains(t, after.Consumers, consumer)
	assert.GreaterOrEqual(t, after.Stream, 0)
	assert.Less(t, after.Stream, 3)

	assert.Equal(t, "t2", lastTicket(t, b))

	// A planned restart (SIGTERM, as a rolling update sends) hands the
	// stream to another server while the stopping one still runs: no
	// election timeout to wait out.
	leader := after.Stream
	old = s.BusPID(leader)
	stopped := time.Now()
	require.NoError(t, s.RestartBus(leader))
	var moved BusLeaders
	var last string
	ok := assert.Eventually(t, func() bool {
		ask, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		l, err := s.Leaders(ask)
		if err != nil || l.Stream < 0 || l.Stream == leader {
			last = fmt.Sprintf("%+v, %v", l, err)
			return false
		}
		moved = l
		return true
	}, 10*time.Second, 50*time.Millisecond, "another server leads the stream")
	if !ok {
		t.Fatalf("last asked: %s", last)
	}
	handedOver := time.Since(stopped)
	assert.NotEqual(t, leader, moved.Stream)
	// An election would wait out nats-server's election timeout, at least
	// 4 s after the stop; a handover is done before the server exits.
	assert.Less(t, handedOver, minElectionTimeout, "the stream changed hands without an election")
	t.Logf("another server led the stream %s after the SIGTERM", handedOver.Round(time.Millisecond))
	waitRestarted(t, s, leader, old)
	publish(t, b, events.TicketCreated{ID: "t3", Title: "gig", Price: 5, UserID: "u"})
	assert.Equal(t, "t3", lastTicket(t, b))
}

// minElectionTimeout is nats-server's shortest wait before a follower
// calls an election (server/raft.go, not configurable).
const minElectionTimeout = 4 * time.Second

func TestLeadersNeedsJetStream(t *testing.T) {
	s := &Stack{cfg: Config{Bus: events.KindSTAN}}
	_, err := s.Leaders(context.Background())
	assert.ErrorIs(t, err, errNoStream)
}
