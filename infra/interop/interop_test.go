// Package interop proves that the original's own clients still talk to our
// bus: original.js is the original's side (node-nats-streaming 0.3.2 as
// @sgtickets/common drives it), run by Node against the NATS Streaming
// server BUS=stan runs (common/busserver), while this test is our side
// (common/events). docs/CONTRACT.md §3: a service of the original could
// replace one of ours on the same cluster.
package interop

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

// tool is a command the test needs, failing (never skipping) when it is
// missing: `make deps` installs it.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run `make deps` (it installs Debian's %s)", name, pkg)
	}
	return p
}

// stampFile, in node_modules, holds the hash of the package-lock.json that
// `npm ci` last installed, so a run whose lockfile has not changed does
// not install again.
const stampFile = "node_modules/.installed-lock-sha256"

// installModules runs `npm ci` from the committed package-lock.json into
// node_modules here (gitignored) unless that lockfile is installed already.
func installModules(t *testing.T, npm string) {
	t.Helper()
	lock, err := os.ReadFile("package-lock.json")
	require.NoError(t, err)
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	if got, err := os.ReadFile(stampFile); err == nil && strings.TrimSpace(string(got)) == want {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund").CombinedOutput()
	require.NoError(t, err, "npm ci in infra/interop:\n%s", out)
	require.NoError(t, os.WriteFile(stampFile, []byte(want+"\n"), 0o644))
	t.Logf("npm ci: %s", time.Since(start).Round(time.Millisecond))
}

// line is one line original.js writes on stdout.
type line struct {
	Published   string         `json:"published"`
	Listening   string         `json:"listening"`
	QueueGroup  string         `json:"queueGroup"`
	Received    string         `json:"received"`
	Sequence    uint64         `json:"sequence"`
	Redelivered bool           `json:"redelivered"`
	Acked       bool           `json:"acked"`
	Data        map[string]any `json:"data"`
	Read        map[string]any `json:"read"`
}

// original is one run of original.js.
type original struct {
	lines  chan line // closed at the end of its stdout
	stderr *testkit.SyncBuffer
	done   chan error // its exit
}

// runOriginal starts original.js against broker with env added to
// NATS_URL and NATS_CLUSTER_ID; it is killed when t ends.
func runOriginal(t *testing.T, node string, broker *testkit.Broker, env ...string) *original {
	t.Helper()
	cmd := exec.Command(node, "original.js")
	cmd.Env = append(os.Environ(), "NATS_URL="+broker.URL, "NATS_CLUSTER_ID="+testkit.ClusterID)
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	o := &original{lines: make(chan line, 16), stderr: &testkit.SyncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = o.stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() {
		defer close(o.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var l line
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Errorf("original.js wrote a line that is not JSON: %q", sc.Text())
				continue
			}
			o.lines <- l
		}
	}()
	go func() { o.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("original.js stderr:\n%s", o.stderr.String())
		}
	})
	return o
}

// next is its next stdout line, failing the test if none comes in time.
func (o *original) next(t *testing.T) (line, bool) {
	t.Helper()
	select {
	case l, ok := <-o.lines:
		return l, ok
	case <-time.After(20 * time.Second):
		t.Fatalf("original.js wrote nothing for 20 s; stderr:\n%s", o.stderr.String())
		return line{}, false
	}
}

// rest is every line up to its exit, which must be a success.
func (o *original) rest(t *testing.T) []line {
	t.Helper()
	var out []line
	for {
		l, ok := o.next(t)
		if !ok {
			break
		}
		out = append(out, l)
	}
	select {
	case err := <-o.done:
		require.NoError(t, err, "original.js exit; stderr:\n%s", o.stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("original.js did not exit after closing its stdout")
	}
	return out
}

func objectID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// newOrder is an order:created as orders publishes it (expiresAt in UTC
// whole milliseconds, orders/store.go).
func newOrder(t *testing.T, price float64) events.OrderCreated {
	return events.OrderCreated{
		ID: objectID(t), Version: 0, Status: events.StatusCreated, UserID: objectID(t),
		ExpiresAt: time.Now().Add(15 * time.Minute).UTC().Truncate(time.Millisecond),
		Ticket:    events.OrderTicket{ID: objectID(t), Price: price},
	}
}

// isoTime is an ISO 8601 UTC date-time, which the original's listeners
// read with new Date(…).
var isoTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$`)

// assertOrderCreated checks one delivery to the original's listener: the
// payload has exactly the original's fields with our values, and what its
// listeners compute from it is right.
func assertOrderCreated(t *testing.T, l line, want events.OrderCreated) {
	t.Helper()
	d := l.Data
	assert.ElementsMatch(t, []string{"id", "version", "status", "userId", "expiresAt", "ticket"}, testkit.Keys(d))
	assert.Equal(t, want.ID, d["id"])
	assert.Equal(t, float64(want.Version), d["version"])
	assert.Equal(t, "created", d["status"])
	assert.Equal(t, want.UserID, d["userId"])
	assert.Regexp(t, isoTime, d["expiresAt"])
	ticket, _ := d["ticket"].(map[string]any)
	assert.ElementsMatch(t, []string{"id", "price"}, testkit.Keys(ticket))
	assert.Equal(t, want.Ticket.ID, ticket["id"])
	assert.Equal(t, want.Ticket.Price, ticket["price"])

	assert.Equal(t, float64(want.ExpiresAt.UnixMilli()), l.Read["expiresAtMs"], "expiration's new Date(data.expiresAt)")
	assert.Equal(t, map[string]any{
		"id": want.ID, "price": want.Ticket.Price, "status": "created", "userId": want.UserID, "version": float64(want.Version),
	}, l.Read["order"], "payments' Order.build")
	assert.Equal(t, want.Ticket.ID, l.Read["ticketId"], "tickets' Ticket.findById")
	assert.Equal(t, want.ID, l.Read["orderId"], "tickets' ticket.set({orderId})")
}

// The original's Node clients on our BUS=stan server, both ways: a
// ticket:created from the original's Publisher reaches our typed listener
// with every field; our Publisher's order:created reaches the original's
// Listener (queue group, durable name, manual acks, deliver all available)
// with exactly the fields it reads, whether published before it
// subscribed or after; an un-acked delivery comes again after its ack
// wait, and a second run of the same durable group starts where the first
// one closed.
func TestOriginalNodeClientsInteroperateOnSTAN(t *testing.T) {
	node := tool(t, "node", "nodejs")
	npm := tool(t, "npm", "npm")
	installModules(t, npm)

	broker := testkit.NewSTAN(t)
	bus := broker.Connect(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	tickets := make(chan events.TicketCreated, 4)
	sub, err := events.Listen(ctx, bus, events.ListenerOptions{QueueGroup: "orders-service", AckWait: time.Second},
		func(_ context.Context, e events.TicketCreated) error { tickets <- e; return nil })
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })

	// Published before the original's listener exists: its
	// setDeliverAllAvailable() still gets it.
	before := newOrder(t, 20.1)
	testkit.Publish(t, bus, before)

	o := runOriginal(t, node, broker, "QUEUE_GROUP=expiration-service", "EXPECT=2", "TIMEOUT_MS=20000",
		"ACK_WAIT_MS=1000", "HOLD_FIRST=1")
	var lines []line
	for {
		l, ok := o.next(t)
		require.True(t, ok, "original.js ended before it listened; stderr:\n%s", o.stderr.String())
		lines = append(lines, l)
		if l.Listening != "" {
			assert.Equal(t, "order:created", l.Listening)
			assert.Equal(t, "expiration-service", l.QueueGroup)
			break
		}
	}
	after := newOrder(t, 1234.56)
	testkit.Publish(t, bus, after)
	lines = append(lines, o.rest(t)...)

	t.Run("ticket:created from the original's Publisher decodes in full", func(t *testing.T) {
		var published map[string]any
		for _, l := range lines {
			if l.Published == "ticket:created" {
				published = l.Data
			}
		}
		require.NotNil(t, published, "original.js published no ticket:created")
		select {
		case got := <-tickets:
			assert.Equal(t, events.TicketCreated{
				ID: published["id"].(string), Version: 0, Title: `Concert — Zürich "front row" ♫`,
				Price: 1234.56, UserID: published["userId"].(string),
			}, got)
			assert.Len(t, got.ID, 24)
			assert.Len(t, got.UserID, 24)
		case <-time.After(10 * time.Second):
			t.Fatal("our listener got no ticket:created")
		}
	})

	t.Run("order:created from our Publisher, before and after it subscribed, with a redelivery", func(t *testing.T) {
		var received []line
		for _, l := range lines {
			if l.Received != "" {
				assert.Equal(t, "order:created", l.Received)
				received = append(received, l)
			}
		}
		require.Len(t, received, 3, "seq 1 held, seq 1 redelivered, seq 2: %+v", received)
		bySeq := map[uint64][]line{}
		for _, l := range received {
			bySeq[l.Sequence] = append(bySeq[l.Sequence], l)
		}
		require.Len(t, bySeq[1], 2, "the order published first, delivered twice")
		first, again := bySeq[1][0], bySeq[1][1]
		assert.False(t, first.Redelivered)
		assert.False(t, first.Acked, "held: not acked")
		assert.True(t, again.Redelivered, "the server redelivered it after the ack wait")
		assert.True(t, again.Acked)
		assertOrderCreated(t, first, before)
		assertOrderCreated(t, again, before)
		require.Len(t, bySeq[2], 1, "the order published after it listened, once")
		assert.True(t, bySeq[2][0].Acked)
		assertOrderCreated(t, bySeq[2][0], after)
	})

	t.Run("the durable queue group resumes where the original's client closed", func(t *testing.T) {
		third := newOrder(t, 0.5)
		testkit.Publish(t, bus, third)
		o := runOriginal(t, node, broker, "QUEUE_GROUP=expiration-service", "EXPECT=1", "TIMEOUT_MS=20000")
		var received []line
		for _, l := range o.rest(t) {
			if l.Received != "" {
				received = append(received, l)
			}
		}
		require.Len(t, received, 1, "only what came after the first run acked: %+v", received)
		assert.Equal(t, uint64(3), received[0].Sequence)
		assert.False(t, received[0].Redelivered)
		assertOrderCreated(t, received[0], third)
	})
}
