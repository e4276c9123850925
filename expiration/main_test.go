package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/service"
	"ticketing.dev/common/testkit"
)

var kit = testkit.New()

func TestMain(m *testing.M) { os.Exit(kit.Run(m)) }

const ackWait = time.Second

// env is the service as run wires it, on a fresh Redis and bus; handled
// counts the listener's invocations (a redelivery would add one) and
// outcomes how each delivery ended.
type env struct {
	bus      events.Bus
	redis    asynq.RedisClientOpt
	handled  *atomic.Int64
	outcomes *outcomes
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
	handled, seen := &atomic.Int64{}, &outcomes{}
	_, err = events.Listen(context.Background(), conn, events.ListenerOptions{QueueGroup: queueGroup, AckWait: ackWait, Observer: seen},
		func(ctx context.Context, e events.OrderCreated) error {
			handled.Add(1)
			return l.orderCreated(ctx, e)
		})
	require.NoError(t, err)
	return env{bus: s.Connect(t), redis: redis, handled: handled, outcomes: seen}
}

// outcomes is the listener's observer: how each delivery ended.
type outcomes struct {
	mu  sync.Mutex
	got []events.Outcome
}

func (o *outcomes) EventHandled(h events.Handled) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, h.Outcome)
}

// wait returns the outcomes once there are n, failing the test if they do
// not come within 10 s.
func (o *outcomes) wait(t *testing.T, n int) []events.Outcome {
	t.Helper()
	require.Eventually(t, func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return len(o.got) >= n
	}, 10*time.Second, 10*time.Millisecond, "the listener handled fewer than %d deliveries", n)
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.got)
}

// settled waits until Redis holds no expiry task still to run (none
// scheduled, pending, running or waiting for a retry), so nothing more
// can fire, and returns how many ran to completion.
func settled(t *testing.T, redis asynq.RedisClientOpt) int {
	t.Helper()
	in := asynq.NewInspector(redis)
	defer in.Close()
	require.Eventually(t, func() bool {
		info, err := in.GetQueueInfo("default")
		if err != nil {
			return false
		}
		return info.Scheduled+info.Pending+info.Active+info.Retry == 0
	}, 10*time.Second, 20*time.Millisecond, "expiry tasks still to run")
	info, err := in.GetQueueInfo("default")
	require.NoError(t, err)
	return info.Completed
}

// firings records when each expiration:complete arrives on the bus.
type firings struct {
	mu    sync.Mutex
	at    map[string][]time.Time // order id → arrival times
	added chan struct{}
}

// watchFirings follows every expiration:complete on bus, from the first
// the server holds.
func watchFirings(t *testing.T, bus events.Bus) *firings {
	t.Helper()
	f := &firings{at: map[string][]time.Time{}, added: make(chan struct{}, 1)}
	sub, err := bus.Replay(events.SubjectExpirationComplete, time.Time{}, func(m events.Msg) {
		arrived := time.Now()
		var e events.ExpirationComplete
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Errorf("expiration:complete is not a valid payload: %v (%s)", err, m.Data)
			return
		}
		f.mu.Lock()
		f.at[e.OrderID] = append(f.at[e.OrderID], arrived)
		f.mu.Unlock()
		select {
		case f.added <- struct{}{}:
		default:
		}
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	return f
}

// of returns how often the order fired so far, and how many firings of any
// order arrived.
func (f *firings) of(orderID string) (order, all int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, at := range f.at {
		all += len(at)
	}
	return len(f.at[orderID]), all
}

// firedAt waits for the order's expiration:complete and returns when it
// arrived.
func (f *firings) firedAt(t *testing.T, orderID string, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.After(timeout)
	for {
		f.mu.Lock()
		at := f.at[orderID]
		f.mu.Unlock()
		if len(at) > 0 {
			return at[0]
		}
		select {
		case <-f.added:
		case <-deadline:
			t.Fatalf("no expiration:complete for %s within %s", orderID, timeout)
		}
	}
}

func orderCreated(expiresAt time.Time) events.OrderCreated {
	return events.OrderCreated{ID: primitive.NewObjectID().Hex(), Status: events.StatusCreated, UserID: "u",
		ExpiresAt: expiresAt, Ticket: events.OrderTicket{ID: primitive.NewObjectID().Hex(), Price: 10}}
}

func TestOrderExpiresAtItsTimeNeverBefore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	got := watchFirings(t, e.bus)
	start := time.Now()
	ev := orderCreated(start.Add(2 * time.Second))
	testkit.Publish(t, e.bus, ev)

	at := got.firedAt(t, ev.ID, 5*time.Second)
	assert.False(t, at.Before(ev.ExpiresAt), "fired %s before expiresAt", ev.ExpiresAt.Sub(at))
	assert.LessOrEqual(t, at.Sub(start), 3300*time.Millisecond, "fired %s after the event", at.Sub(start))
	assert.Equal(t, 1, settled(t, e.redis), "one task ran")
	order, all := got.of(ev.ID)
	assert.Equal(t, 1, order)
	assert.Equal(t, 1, all)

	assert.Equal(t, []events.Outcome{events.OutcomeAcked}, e.outcomes.wait(t, 1), "the event was acked at its first delivery")
	assert.Equal(t, int64(1), e.handled.Load(), "the event was acked, not redelivered")
}

func TestSameOrderCreatedTwiceExpiresOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	got := watchFirings(t, e.bus)
	ev := orderCreated(time.Now().Add(time.Second))
	testkit.Publish(t, e.bus, ev)
	testkit.Publish(t, e.bus, ev)
	got.firedAt(t, ev.ID, 5*time.Second)
	testkit.Publish(t, e.bus, ev) // redelivered after the task ran
	assert.Equal(t, []events.Outcome{events.OutcomeAcked, events.OutcomeAcked, events.OutcomeAcked}, e.outcomes.wait(t, 3),
		"each copy handled (scheduled, or found scheduled already) and acked")
	assert.Equal(t, 1, settled(t, e.redis), "one task ran, none is left to run")
	order, _ := got.of(ev.ID)
	assert.Equal(t, 1, order, "expired once")
}

func TestExpiresAtInThePastFiresPromptly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	got := watchFirings(t, e.bus)
	ev := orderCreated(time.Now().Add(-time.Minute))
	start := time.Now()
	testkit.Publish(t, e.bus, ev)
	at := got.firedAt(t, ev.ID, 5*time.Second)
	assert.LessOrEqual(t, at.Sub(start), 1500*time.Millisecond)
}

func TestLatenessStaysWithinAboutASecond(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	got := watchFirings(t, e.bus)
	const n = 10
	evs := make([]events.OrderCreated, n)
	base := time.Now().Add(time.Second)
	for i := range evs {
		evs[i] = orderCreated(base.Add(time.Duration(i) * 173 * time.Millisecond))
		testkit.Publish(t, e.bus, evs[i])
	}
	late := make([]time.Duration, n)
	for i, ev := range evs {
		late[i] = got.firedAt(t, ev.ID, 10*time.Second).Sub(ev.ExpiresAt)
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

// handled is how many order:created deliveries the running service's
// listener ended with outcome, from its metrics; -1 if they cannot be read.
func handled(vars map[string]string, outcome events.Outcome) int {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + vars["PORT"] + metrics.MetricsPath)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return -1
	}
	series := fmt.Sprintf(`events_handled_total{outcome=%q,queue_group=%q,subject=%q} `, outcome, queueGroup, events.SubjectOrderCreated)
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
			return -1
		}
	}
	return 0
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
	t.Parallel()
	r := testkit.NewRedis(t)
	s := testkit.NewSTAN(t)
	bus := s.Connect(t)
	got := watchFirings(t, bus)
	vars := serviceVars(t, s.URL, r.Host, r.Port)

	stop := runService(t, vars)
	ev := orderCreated(time.Now().Add(3 * time.Second))
	testkit.Publish(t, bus, ev)
	require.Eventually(t, func() bool { return handled(vars, events.OutcomeAcked) == 1 }, 10*time.Second, 20*time.Millisecond,
		"the order's expiry was not scheduled and acked")
	order, _ := got.of(ev.ID)
	require.Zero(t, order, "fired before the restart")
	stop()

	vars["NATS_CLIENT_ID"] += "-again"
	runService(t, vars)
	got.firedAt(t, ev.ID, 8*time.Second)
	assert.Equal(t, 1, settled(t, asynq.RedisClientOpt{Addr: r.Addr()}), "one task ran, none is left to run")
	order, _ = got.of(ev.ID)
	assert.Equal(t, 1, order, "fired once")
}

func TestRedisUnreachableFailsReadinessAndLeavesTheEventForRedelivery(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	proxy := testkit.NewProxy(t, r.Addr())
	s := testkit.NewSTAN(t)
	bus := s.Connect(t)
	got := watchFirings(t, bus)
	host, port := splitHostPort(t, proxy.Addr)
	vars := serviceVars(t, s.URL, host, port)
	runService(t, vars)
	ready := "http://127.0.0.1:" + vars["PORT"] + "/readyz"
	require.Eventually(t, func() bool { return status(ready) == 200 }, 10*time.Second, 50*time.Millisecond)

	proxy.SetDown(true)
	assert.Eventually(t, func() bool { return status(ready) == 503 }, 10*time.Second, 100*time.Millisecond)
	ev := orderCreated(time.Now().Add(time.Second))
	testkit.Publish(t, bus, ev)
	require.Eventually(t, func() bool { return handled(vars, events.OutcomeRetried) >= 1 }, 15*time.Second, 20*time.Millisecond,
		"the event was not handed back")
	assert.Zero(t, handled(vars, events.OutcomeAcked), "cannot be scheduled, so not acked")

	proxy.SetDown(false)
	assert.Eventually(t, func() bool { return status(ready) == 200 }, 10*time.Second, 100*time.Millisecond)
	got.firedAt(t, ev.ID, 15*time.Second) // redelivered, scheduled, fired
	assert.Equal(t, 1, handled(vars, events.OutcomeAcked))
}

func TestPublishFailureWhenFiringIsRetried(t *testing.T) {
	t.Parallel()
	r := testkit.NewRedis(t)
	s := testkit.NewSTAN(t)
	live := s.Connect(t)
	dead := s.Connect(t)
	require.NoError(t, dead.Close())
	got := watchFirings(t, live)
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
	got.firedAt(t, ev.ID, 10*time.Second)
	assert.Equal(t, int64(2), attempts.Load())
}

func TestRetryDelayBacksOffAndIsBounded(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 2*time.Second, retryDelay(1, nil, nil))
	assert.Equal(t, 16*time.Second, retryDelay(4, nil, nil))
	assert.Equal(t, time.Hour, retryDelay(maxRetry, nil, nil))
}

func TestRunRefusesToStartWithoutRequiredConfig(t *testing.T) {
	t.Parallel()
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
