package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
	"ticketing.dev/common/service"
	"ticketing.dev/common/testkit"
)

var kit = testkit.New()

func TestMain(m *testing.M) { os.Exit(kit.Run(m)) }

const ackWait = time.Second

// env is the service as run wires it, on a fresh Redis and bus; handled
// counts the listener's invocations (a redelivery would add one).
type env struct {
	bus     events.Bus
	handled *atomic.Int64
}

func newEnv(t *testing.T) env {
	t.Helper()
	r := testkit.NewRedis(t)
	s := testkit.NewSTAN(t)
	conn := s.Connect(t)
	log := service.NewLogger(io.Discard, "expiration", "info")
	redis := asynq.RedisClientOpt{Addr: r.Addr()}
	client := asynq.NewClient(redis)
	t.Cleanup(func() { client.Close() })
	worker, err := startWorker(redis, newExpirer(conn, log, nil), log)
	require.NoError(t, err)
	t.Cleanup(worker.Shutdown)
	l := &listeners{jobs: &scheduler{client: client}}
	handled := &atomic.Int64{}
	_, err = events.Listen(context.Background(), conn, events.ListenerOptions{QueueGroup: queueGroup, AckWait: ackWait},
		func(ctx context.Context, e events.OrderCreated) error {
			handled.Add(1)
			return l.orderCreated(ctx, e)
		})
	require.NoError(t, err)
	return env{bus: s.Connect(t), handled: handled}
}

func orderCreated(expiresAt time.Time) events.OrderCreated {
	return events.OrderCreated{ID: primitive.NewObjectID().Hex(), Status: events.StatusCreated, UserID: "u",
		ExpiresAt: expiresAt, Ticket: events.OrderTicket{ID: primitive.NewObjectID().Hex(), Price: 10}}
}

// firedAt waits for the order's expiration:complete and returns its time.
func firedAt(t *testing.T, c *testkit.Captured[events.ExpirationComplete], orderID string, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if slices.ContainsFunc(c.All(), func(e events.ExpirationComplete) bool { return e.OrderID == orderID }) {
			return time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no expiration:complete for %s within %s", orderID, timeout)
	return time.Time{}
}

func TestOrderExpiresAtItsTimeNeverBefore(t *testing.T) {
	e := newEnv(t)
	got := testkit.Capture[events.ExpirationComplete](t, e.bus)
	start := time.Now()
	ev := orderCreated(start.Add(2 * time.Second))
	testkit.Publish(t, e.bus, ev)

	at := firedAt(t, got, ev.ID, 5*time.Second)
	assert.False(t, at.Before(ev.ExpiresAt), "fired %s before expiresAt", ev.ExpiresAt.Sub(at))
	assert.LessOrEqual(t, at.Sub(start), 3300*time.Millisecond, "fired %s after the event", at.Sub(start))
	assert.Equal(t, []events.ExpirationComplete{{OrderID: ev.ID}}, got.All())

	time.Sleep(2*ackWait + 200*time.Millisecond)
	assert.Equal(t, int64(1), e.handled.Load(), "the event was acked, not redelivered")
}

func TestSameOrderCreatedTwiceExpiresOnce(t *testing.T) {
	e := newEnv(t)
	got := testkit.Capture[events.ExpirationComplete](t, e.bus)
	ev := orderCreated(time.Now().Add(time.Second))
	testkit.Publish(t, e.bus, ev)
	testkit.Publish(t, e.bus, ev)
	firedAt(t, got, ev.ID, 5*time.Second)
	testkit.Publish(t, e.bus, ev) // redelivered after the task ran
	got.Quiet(t, 1, 2*time.Second)
}

func TestExpiresAtInThePastFiresPromptly(t *testing.T) {
	e := newEnv(t)
	got := testkit.Capture[events.ExpirationComplete](t, e.bus)
	ev := orderCreated(time.Now().Add(-time.Minute))
	start := time.Now()
	testkit.Publish(t, e.bus, ev)
	at := firedAt(t, got, ev.ID, 5*time.Second)
	assert.LessOrEqual(t, at.Sub(start), 1500*time.Millisecond)
}

func TestLatenessStaysWithinAboutASecond(t *testing.T) {
	e := newEnv(t)
	got := testkit.Capture[events.ExpirationComplete](t, e.bus)
	const n = 10
	evs := make([]events.OrderCreated, n)
	base := time.Now().Add(time.Second)
	for i := range evs {
		evs[i] = orderCreated(base.Add(time.Duration(i) * 173 * time.Millisecond))
		testkit.Publish(t, e.bus, evs[i])
	}
	late := make([]time.Duration, n)
	for i, ev := range evs {
		late[i] = firedAt(t, got, ev.ID, 10*time.Second).Sub(ev.ExpiresAt)
	}
	slices.Sort(late)
	t.Logf("lateness after expiresAt over %d orders: min %s, p50 %s, max %s", n, late[0], late[n/2], late[n-1])
	assert.GreaterOrEqual(t, late[0], time.Duration(0), "never early")
	assert.LessOrEqual(t, late[n-1], 1500*time.Millisecond)
}

// runService runs the service as main does until the returned stop is called.
func runService(t *testing.T, vars map[string]string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return vars[k] }, io.Discard) }()
	require.Eventually(t, func() bool { return status("http://127.0.0.1:"+vars["PORT"]+"/healthz") == 200 }, 20*time.Second, 20*time.Millisecond)
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("run did not stop")
		}
	}
	t.Cleanup(stop)
	return stop
}

func status(url string) int {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func serviceVars(t *testing.T, natsURL, redisHost string, redisPort int) map[string]string {
	return map[string]string{
		"HOST": "127.0.0.1", "PORT": strconv.Itoa(testkit.FreePort(t)),
		"NATS_URL": natsURL, "NATS_CLUSTER_ID": testkit.ClusterID, "NATS_CLIENT_ID": fmt.Sprintf("expiration-%d", time.Now().UnixNano()),
		"REDIS_HOST": redisHost, "REDIS_PORT": strconv.Itoa(redisPort), "ACK_WAIT": "1s",
	}
}

func TestScheduledTaskFiresAfterTheServiceRestarts(t *testing.T) {
	r := testkit.NewRedis(t)
	s := testkit.NewSTAN(t)
	bus := s.Connect(t)
	got := testkit.Capture[events.ExpirationComplete](t, bus)
	vars := serviceVars(t, s.URL, r.Host, r.Port)

	stop := runService(t, vars)
	ev := orderCreated(time.Now().Add(3 * time.Second))
	testkit.Publish(t, bus, ev)
	time.Sleep(500 * time.Millisecond) // scheduled and acked
	stop()

	vars["NATS_CLIENT_ID"] += "-again"
	runService(t, vars)
	firedAt(t, got, ev.ID, 8*time.Second)
	got.Quiet(t, 1, time.Second)
}

func TestRedisUnreachableFailsReadinessAndLeavesTheEventForRedelivery(t *testing.T) {
	r := testkit.NewRedis(t)
	proxy := testkit.NewProxy(t, r.Addr())
	s := testkit.NewSTAN(t)
	bus := s.Connect(t)
	got := testkit.Capture[events.ExpirationComplete](t, bus)
	host, port := splitHostPort(t, proxy.Addr)
	vars := serviceVars(t, s.URL, host, port)
	runService(t, vars)
	ready := "http://127.0.0.1:" + vars["PORT"] + "/readyz"
	require.Eventually(t, func() bool { return status(ready) == 200 }, 10*time.Second, 50*time.Millisecond)

	proxy.SetDown(true)
	assert.Eventually(t, func() bool { return status(ready) == 503 }, 10*time.Second, 100*time.Millisecond)
	ev := orderCreated(time.Now().Add(time.Second))
	testkit.Publish(t, bus, ev)
	got.Quiet(t, 0, 2*time.Second) // cannot be scheduled, so not acked

	proxy.SetDown(false)
	assert.Eventually(t, func() bool { return status(ready) == 200 }, 10*time.Second, 100*time.Millisecond)
	firedAt(t, got, ev.ID, 15*time.Second) // redelivered, scheduled, fired
}

func TestPublishFailureWhenFiringIsRetried(t *testing.T) {
	r := testkit.NewRedis(t)
	s := testkit.NewSTAN(t)
	live := s.Connect(t)
	dead := s.Connect(t)
	require.NoError(t, dead.Close())
	got := testkit.Capture[events.ExpirationComplete](t, live)
	log := service.NewLogger(io.Discard, "expiration", "info")
	redis := asynq.RedisClientOpt{Addr: r.Addr()}

	var attempts atomic.Int64
	failing, working := newExpirer(dead, log, nil), newExpirer(live, log, nil)
	worker, err := startWorker(redis, asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		// The first attempt publishes on a closed connection, as during a
		// bus outage; the retry finds the bus back.
		if attempts.Add(1) == 1 {
			return failing.ProcessTask(ctx, task)
		}
		return working.ProcessTask(ctx, task)
	}), log)
	require.NoError(t, err)
	t.Cleanup(worker.Shutdown)
	client := asynq.NewClient(redis)
	defer client.Close()

	ev := orderCreated(time.Now())
	require.NoError(t, (&scheduler{client: client}).schedule(context.Background(), ev.ID, ev.ExpiresAt))
	firedAt(t, got, ev.ID, 10*time.Second)
	assert.Equal(t, int64(2), attempts.Load())
}

func TestRetryDelayBacksOffAndIsBounded(t *testing.T) {
	assert.Equal(t, 2*time.Second, retryDelay(1, nil, nil))
	assert.Equal(t, 16*time.Second, retryDelay(4, nil, nil))
	assert.Equal(t, time.Hour, retryDelay(maxRetry, nil, nil))
}

func TestRunRefusesToStartWithoutRequiredConfig(t *testing.T) {
	err := run(context.Background(), func(string) string { return "" }, io.Discard)
	require.Error(t, err)
	for _, name := range []string{"NATS_URL", "NATS_CLUSTER_ID", "NATS_CLIENT_ID", "REDIS_HOST"} {
		assert.Contains(t, err.Error(), "missing required environment variable "+name)
	}
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	return host, p
}
