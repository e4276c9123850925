package main

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

func noEnv(string) string { return "" }

// startListen runs `listen` until the test ends and returns its output.
func startListen(t *testing.T, s *testkit.Broker, args ...string) *testkit.SyncBuffer {
	t.Helper()
	out := &testkit.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"listen", "--bus", s.Kind, "--url", s.URL}, args...), noEnv, out)
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "listening to") }, 10*time.Second, 10*time.Millisecond)
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done, "exits cleanly on Ctrl-C")
	})
	return out
}

var deliveryLine = regexp.MustCompile(`(?m)^ticket:created #(\d+) redelivered=(true|false) (\{.*\})$`)

func TestPublishThenListenReceivesTheEvent(t *testing.T) {
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		s := newBus(t)
		var pubOut bytes.Buffer
		err := run(context.Background(), []string{"publish", "--bus", s.Kind, "--url", s.URL, "--id", "5f0000000000000000000007", "--title", "gig", "--price", "12.5"}, noEnv, &pubOut)
		require.NoError(t, err)
		assert.Regexp(t, `^published ticket:created sequence 1: \{.*\}\n$`, pubOut.String())

		out := startListen(t, s)
		require.Eventually(t, func() bool { return deliveryLine.MatchString(out.String()) }, 5*time.Second, 10*time.Millisecond)
		m := deliveryLine.FindStringSubmatch(out.String())
		assert.Equal(t, "1", m[1])
		assert.Equal(t, "false", m[2])
		var e events.TicketCreated
		require.NoError(t, json.Unmarshal([]byte(m[3]), &e))
		assert.Equal(t, events.TicketCreated{ID: "5f0000000000000000000007", Version: 0, Title: "gig", Price: 12.5, UserID: "nats-test"}, e)
	})
}

func TestTwoListenersInOneGroupSplitTheEvents(t *testing.T) {
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		s := newBus(t)
		a := startListen(t, s, "--group", "demo")
		b := startListen(t, s, "--group", "demo")
		const n = 20
		for range n {
			require.NoError(t, run(context.Background(), []string{"publish", "--bus", s.Kind, "--url", s.URL}, noEnv, &bytes.Buffer{}))
		}
		count := func(o *testkit.SyncBuffer) int { return len(deliveryLine.FindAllString(o.String(), -1)) }
		require.Eventually(t, func() bool { return count(a)+count(b) == n }, 10*time.Second, 20*time.Millisecond)
		assert.NotZero(t, count(a))
		assert.NotZero(t, count(b))
	})
}

func TestUnreachableServerFailsFastWithOneLine(t *testing.T) {
	for name, args := range map[string][]string{
		"bad url": {"publish", "--url", "nats://127.0.0.1:1"},
		"listen":  {"listen", "--url", "nats://127.0.0.1:1"},
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := run(context.Background(), args, noEnv, &bytes.Buffer{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "connecting to NATS Streaming nats://127.0.0.1:1")
			assert.NotContains(t, err.Error(), "\n")
			assert.Less(t, time.Since(start), 8*time.Second)
		})
	}
}

func TestWrongClusterIDFailsFast(t *testing.T) {
	s := testkit.NewSTAN(t)
	start := time.Now()
	err := run(context.Background(), []string{"publish", "--url", s.URL, "--cluster", "nope"}, noEnv, &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `cluster "nope"`)
	assert.Less(t, time.Since(start), 8*time.Second)
}

func TestBusAndURLDefaultToBUSAndNATS_URL(t *testing.T) {
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		s := newBus(t)
		var out bytes.Buffer
		err := run(context.Background(), []string{"publish"}, func(k string) string {
			return map[string]string{"NATS_URL": s.URL, "BUS": s.Kind}[k]
		}, &out)
		require.NoError(t, err)
		assert.Contains(t, out.String(), "published ticket:created")
	})
}

func TestUnknownCommandOrSubjectIsAnError(t *testing.T) {
	assert.ErrorIs(t, run(context.Background(), nil, noEnv, &bytes.Buffer{}), errUsage)
	assert.ErrorContains(t, run(context.Background(), []string{"shout"}, noEnv, &bytes.Buffer{}), `unknown command "shout"`)
	s := testkit.NewSTAN(t)
	assert.ErrorContains(t, run(context.Background(), []string{"listen", "--url", s.URL, "--subject", "nope"}, noEnv, &bytes.Buffer{}), `unknown subject "nope"`)
}
