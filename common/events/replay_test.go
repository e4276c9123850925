package events_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

// seen collects the user ids of replayed revocations.
type seen struct {
	mu  sync.Mutex
	ids []string
}

func (s *seen) add(e events.SessionRevoked) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, e.UserID)
}

func (s *seen) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

func revoked(user string) events.SessionRevoked {
	return events.SessionRevoked{UserID: user, IssuedAt: 1, TokenID: "t-" + user, Until: time.Now().Add(time.Hour)}
}

func TestReplayHandsOverTheBacklogBeforeCaughtUpThenFollowsNewEvents(t *testing.T) {
	t.Parallel()
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		t.Parallel()
		s := newBus(t)
		conn := s.Connect(t)
		for _, u := range []string{"u1", "u2", "u3"} {
			testkit.Publish(t, conn, revoked(u))
		}
		var got seen
		sub, caughtUp, err := events.Replay(s.Connect(t), time.Hour, got.add)
		require.NoError(t, err)
		defer sub.Close()
		select {
		case <-caughtUp:
		case <-time.After(5 * time.Second):
			t.Fatal("not caught up")
		}
		assert.Equal(t, []string{"u1", "u2", "u3"}, got.list(), "the whole backlog, in order, before caughtUp")

		testkit.Publish(t, conn, revoked("u4"))
		assert.Eventually(t, func() bool { return len(got.list()) == 4 }, 5*time.Second, 10*time.Millisecond)
	})
}

func TestReplayOfAnEmptyChannelIsCaughtUpAtOnce(t *testing.T) {
	t.Parallel()
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		t.Parallel()
		s := newBus(t)
		var got seen
		start := time.Now()
		sub, caughtUp, err := events.Replay(s.Connect(t), time.Hour, got.add)
		require.NoError(t, err)
		defer sub.Close()
		<-caughtUp
		assert.Less(t, time.Since(start), 2*time.Second)
		assert.Empty(t, got.list())
	})
}

func TestReplaySkipsEventsOlderThanItsWindow(t *testing.T) {
	t.Parallel()
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		t.Parallel()
		s := newBus(t)
		conn, replayer := s.Connect(t), s.Connect(t)
		stamp := func() time.Time { // when the server stored the last revocation
			m, found, err := conn.Last(context.Background(), events.SubjectSessionRevoked)
			require.NoError(t, err)
			require.True(t, found)
			return m.Time
		}
		testkit.Publish(t, conn, revoked("old"))
		old := stamp()
		// The server stamps messages with its own clock, which a test
		// cannot move: the gap between the two is real time. The window
		// starts half way through it, so either side has 100 ms to spare
		// (STAN turns the start into a delta measured again on the server).
		time.Sleep(200 * time.Millisecond)
		testkit.Publish(t, conn, revoked("new"))
		newer := stamp()
		mid := old.Add(newer.Sub(old) / 2)
		var got seen
		sub, caughtUp, err := events.Replay(replayer, time.Since(mid), got.add)
		require.NoError(t, err)
		defer sub.Close()
		select {
		case <-caughtUp:
		case <-time.After(5 * time.Second):
			t.Fatal("not caught up")
		}
		assert.Equal(t, []string{"new"}, got.list())
	})
}
