package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testkit"
	"ticketing.dev/infra/stack"
)

// replicated is a stack with REPLICAS=2, started once for the binary and
// stopped by TestMain. LOG_LEVEL=debug makes every service write one line
// per request, and the stack prefixes each line with the replica's name
// ("tickets-1"), which is how the tests see where a request went.
var replicated struct {
	once  sync.Once
	stack *stack.Stack
	err   error
	out   *testkit.SyncBuffer
}

func replicatedStack(t *testing.T) (*stack.Stack, *testkit.SyncBuffer) {
	t.Helper()
	replicated.once.Do(func() {
		dir, err := os.MkdirTemp("", "e2e-replicas-")
		if err != nil {
			replicated.err = err
			return
		}
		replicated.out = &testkit.SyncBuffer{}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cfg := testConfig(t, dir, replicated.out, map[string]string{"REPLICAS": "2", "LOG_LEVEL": "debug"})
		replicated.stack, replicated.err = stack.Start(ctx, cfg)
	})
	if replicated.err != nil {
		t.Fatalf("starting stack: %v\n%s", replicated.err, replicated.out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stack output:\n%s", replicated.out)
		}
	})
	return replicated.stack, replicated.out
}

// served counts the requests each replica logged for method and path.
func served(out *testkit.SyncBuffer, method, path string) map[string]int {
	n := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		label, line, ok := strings.Cut(sc.Text(), " | ")
		if !ok {
			continue
		}
		var rec struct{ Msg, Method, Path string }
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "request" {
			continue
		}
		if rec.Method == method && rec.Path == path {
			n[strings.TrimSpace(label)]++
		}
	}
	return n
}

// delta is after minus before, per replica.
func delta(before, after map[string]int) map[string]int {
	d := map[string]int{}
	for k, v := range after {
		if v-before[k] != 0 {
			d[k] = v - before[k]
		}
	}
	return d
}

// settle waits until the replicas' logs hold want more requests for method
// and path than before (log lines trail the responses a little).
func settle(t *testing.T, out *testkit.SyncBuffer, method, path string, before map[string]int, want int) map[string]int {
	t.Helper()
	var d map[string]int
	require.Eventually(t, func() bool {
		d = delta(before, served(out, method, path))
		total := 0
		for _, v := range d {
			total += v
		}
		return total >= want
	}, 10*time.Second, 50*time.Millisecond, "%d logged %s %s", want, method, path)
	return d
}

// environ is a process's environment as Linux shows it.
func environ(t *testing.T, pid int) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	require.NoError(t, err)
	env := map[string]string{}
	for kv := range strings.SplitSeq(string(raw), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

func refuses(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	conn, err := net.DialTimeout("tcp", u.Host, time.Second)
	if err != nil {
		return true
	}
	conn.Close()
	return false
}

func TestReplicasRunAsOwnProcessesBehindRoundRobinBalancers(t *testing.T) {
	s, out := replicatedStack(t)

	// Every service runs twice, as processes of their own on ports of their
	// own, each with its own NATS client id; every <NAME>_URL points at the
	// balancer.
	pids := map[int]string{}
	clientIDs := map[string]bool{}
	for _, name := range s.Services() {
		require.Equal(t, 2, s.Replicas(name), name)
		require.NotEqual(t, s.ReplicaURL(name, 0), s.ReplicaURL(name, 1), name)
		assert.NotContains(t, []string{s.ReplicaURL(name, 0), s.ReplicaURL(name, 1)}, s.ServiceURL(name), name)
		assert.Equal(t, s.PID(name), s.ReplicaPID(name, 0), name)
		for i := range 2 {
			pid := s.ReplicaPID(name, i)
			require.NotZero(t, pid, "%s replica %d", name, i)
			require.NotContains(t, pids, pid, "%s replica %d has a pid of its own", name, i)
			pids[pid] = name

			resp, err := http.Get(s.ReplicaURL(name, i) + "/readyz")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, 200, resp.StatusCode, "%s replica %d is ready", name, i)

			env := environ(t, pid)
			assert.Equal(t, strings.TrimPrefix(s.ReplicaURL(name, i), "http://127.0.0.1:"), env["PORT"])
			assert.Equal(t, "1", env["LISTEN_FDS"], "%s replica %d serves the socket the stack bound for it", name, i)
			assert.False(t, clientIDs[env["NATS_CLIENT_ID"]], "NATS_CLIENT_ID %s is unique", env["NATS_CLIENT_ID"])
			clientIDs[env["NATS_CLIENT_ID"]] = true
			for _, api := range []string{"auth", "tickets", "orders", "payments"} {
				assert.Equal(t, s.ServiceURL(api), env[strings.ToUpper(api)+"_URL"], "%s replica %d calls %s through its balancer", name, i, api)
			}
		}
	}
	assert.Len(t, pids, 2*len(s.Services()))

	// Through the ingress, consecutive requests alternate between the two
	// replicas.
	b := signedUp(t, s.URL(), "replicas")
	created := b.do("POST", "/api/tickets", map[string]any{"title": "Balanced", "price": 10})
	require.Equal(t, 201, created.Status, created.Raw)
	beforeMe, beforeList := served(out, "GET", "/api/users/currentuser"), served(out, "GET", "/api/tickets")
	for range 20 {
		me := b.do("GET", "/api/users/currentuser", nil)
		require.Equal(t, 200, me.Status)
		require.NotNil(t, currentUser(me), me.Raw)
		list := b.do("GET", "/api/tickets", nil)
		require.Equal(t, 200, list.Status, list.Raw)
	}
	assert.Equal(t, map[string]int{"auth-0": 10, "auth-1": 10}, settle(t, out, "GET", "/api/users/currentuser", beforeMe, 20))
	assert.Equal(t, map[string]int{"tickets-0": 10, "tickets-1": 10}, settle(t, out, "GET", "/api/tickets", beforeList, 20))

	// With replica 0 of tickets killed, every request still succeeds: the
	// balancer skips it. It stays down for at least its one-second back-off,
	// far longer than the 20 requests take.
	survivor := s.ReplicaPID("tickets", 1)
	back := fmt.Sprintf(`msg="replica ready again" service=tickets replica=%s`, strings.TrimPrefix(s.ReplicaURL("tickets", 0), "http://"))
	readyAgain := strings.Count(out.String(), back)
	require.NoError(t, s.KillReplica("tickets", 0))
	require.Eventually(t, func() bool { return refuses(s.ReplicaURL("tickets", 0)) }, 10*time.Second, 5*time.Millisecond,
		"replica 0 of tickets is down")
	before := served(out, "GET", "/api/tickets")
	anyone := newBrowser(t, s.URL())
	for i := range 20 {
		r := anyone.do("GET", "/api/tickets", nil)
		require.Equal(t, 200, r.Status, "request %d with replica 0 down: %s", i, r.Raw)
	}
	require.True(t, refuses(s.ReplicaURL("tickets", 0)), "replica 0 was down during all 20 requests")
	assert.Equal(t, map[string]int{"tickets-1": 20}, settle(t, out, "GET", "/api/tickets", before, 20))

	// Its supervisor restarts it, alone, and it gets its turns again once
	// the balancer's probe has found it ready (the replica's own /readyz
	// can answer a moment before that probe runs).
	require.Eventually(t, func() bool { return strings.Count(out.String(), back) > readyAgain }, 30*time.Second, 100*time.Millisecond,
		"replica 0 of tickets is back in its balancer's turns")
	assert.Contains(t, out.String(), "tickets-0 exited (signal: killed); restarting")
	assert.Equal(t, survivor, s.ReplicaPID("tickets", 1), "replica 1 was left alone")
	before = served(out, "GET", "/api/tickets")
	for range 4 {
		require.Equal(t, 200, anyone.do("GET", "/api/tickets", nil).Status)
	}
	assert.Equal(t, map[string]int{"tickets-0": 2, "tickets-1": 2}, settle(t, out, "GET", "/api/tickets", before, 4))
}

func TestReplicasPurchaseJourneyCompletesTheOrder(t *testing.T) {
	s, _ := replicatedStack(t)
	seller := signedUp(t, s.URL(), "seller")
	buyer := signedUp(t, s.URL(), "buyer")
	_, oid := reserve(t, seller, buyer, "Replicated opera", "25.00")

	payFor(t, buyer, oid)

	require.Eventually(t, func() bool {
		return buyer.do("GET", "/api/orders/"+oid, nil).Body["status"] == "complete"
	}, 10*time.Second, 50*time.Millisecond, "the order becomes complete within 10 s")
}
