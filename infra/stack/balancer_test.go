package stack

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testkit"
)

// replicaServer answers with its index and counts its requests other than
// the balancer's probes; its /readyz answers 503 while unready is set.
type replicaServer struct {
	*httptest.Server
	hits    atomic.Int64
	unready atomic.Bool
}

func newReplicas(t *testing.T, n int, h func(i int, w http.ResponseWriter, r *http.Request)) []*replicaServer {
	t.Helper()
	out := make([]*replicaServer, n)
	for i := range out {
		rs := &replicaServer{}
		rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == readyPath {
				if rs.unready.Load() {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
				return
			}
			rs.hits.Add(1)
			h(i, w, r)
		}))
		t.Cleanup(rs.Close)
		out[i] = rs
	}
	return out
}

func addrOf(rs *replicaServer) string { return strings.TrimPrefix(rs.URL, "http://") }

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	p, err := freePort()
	require.NoError(t, err)
	return "127.0.0.1:" + strconv.Itoa(p)
}

func balance(t *testing.T, addrs ...string) *balancer {
	t.Helper()
	return balanceWith(t, nil, nil, addrs...)
}

// balanceWith starts a balancer that logs to logs (nil: nowhere), after
// tune (if any) has changed its timings.
func balanceWith(t *testing.T, logs io.Writer, tune func(*balancer), addrs ...string) *balancer {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	b := newBalancer("svc", addrs, slog.New(slog.NewTextHandler(logs, nil)))
	if tune != nil {
		tune(b)
	}
	require.NoError(t, b.start())
	t.Cleanup(func() { b.stop(&console{out: io.Discard}) })
	return b
}

// waitState waits until the balancer holds the replica at addr in state.
func waitState(t *testing.T, b *balancer, addr string, state int32, within time.Duration) {
	t.Helper()
	i := slices.IndexFunc(b.replicas, func(r *replica) bool { return r.addr == addr })
	require.GreaterOrEqual(t, i, 0, "no replica %s", addr)
	require.Eventually(t, func() bool { return b.replicas[i].state.Load() == state }, within, 5*time.Millisecond,
		"replica %s never reached state %d", addr, state)
}

// logBuffer collects a balancer's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// count is how many lines hold every one of words.
func (l *logBuffer) count(words ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.buf.String(), "\n") {
		if line != "" && !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(line, w) }) {
			n++
		}
	}
	return n
}

// replicaProcess is a real process serving HTTP, for what only a process
// can do: be stopped with SIGSTOP, whereupon the kernel still accepts
// connections on its port and nothing answers them.
type replicaProcess struct {
	addr string
	pid  int
}

const replicaProcessEnv = "STACK_TEST_REPLICA_PROCESS"

// TestHelperReplicaProcess is the body of a replicaProcess: the test binary
// run again. It answers /readyz with 200 and everything else with "process".
func TestHelperReplicaProcess(t *testing.T) {
	if os.Getenv(replicaProcessEnv) == "" {
		t.Skip("the replica process that startReplicaProcess runs")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	go func() {
		// The test holds stdin open; gone, it is gone (even if it could not
		// kill this process).
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != readyPath {
			fmt.Fprint(w, "process")
		}
	}))
}

func startReplicaProcess(t *testing.T) *replicaProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperReplicaProcess$")
	cmd.Env = append(os.Environ(), replicaProcessEnv+"=1")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		in.Close()
		_ = cmd.Process.Kill() // stopped or not
		_ = cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(l)
	}()
	select {
	case l := <-line:
		_, _, err := net.SplitHostPort(l)
		require.NoError(t, err, "the replica process said %q", l)
		return &replicaProcess{addr: l, pid: cmd.Process.Pid}
	case <-time.After(20 * time.Second):
		t.Fatal("the replica process did not say where it listens")
		return nil
	}
}

func (p *replicaProcess) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	require.NoError(t, syscall.Kill(p.pid, sig))
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestBalancerRoundRobinsPerRequestOverKeptAliveConnections(t *testing.T) {
	rs := newReplicas(t, 3, func(i int, w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, i) })
	b := balance(t, addrOf(rs[0]), addrOf(rs[1]), addrOf(rs[2]))
	for _, r := range rs {
		waitState(t, b, addrOf(r), ready, 5*time.Second)
	}
	c := &http.Client{} // one kept-alive connection to the balancer
	var order []string
	for range 9 {
		status, body := get(t, c, b.URL()+"/x")
		require.Equal(t, 200, status)
		order = append(order, body)
	}
	assert.Equal(t, []string{"0", "1", "2", "0", "1", "2", "0", "1", "2"}, order)
}

// With no replica ready, the balancer tries each in turn, as it did before
// it had probes: a refused dial passes the request on to the next one.
func TestBalancerWithNoReplicaReadySkipsThoseThatRefuseConnections(t *testing.T) {
	rs := newReplicas(t, 2, func(i int, w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d:%s", i, body)
	})
	rs[0].unready.Store(true)
	rs[1].unready.Store(true)
	b := balance(t, addrOf(rs[0]), deadAddr(t), addrOf(rs[1]))
	c := &http.Client{}
	for i := range 12 {
		status, body := get(t, c, b.URL()+"/x")
		require.Equal(t, 200, status, "request %d", i)
		require.NotEmpty(t, body)
	}
	assert.Equal(t, int64(4), rs[0].hits.Load(), "its own turns")
	assert.Equal(t, int64(8), rs[1].hits.Load(), "its own turns and the dead replica's")

	// A request body is offered whole to the next replica after a failed dial,
	// with a length and chunked.
	for i := range 6 {
		payload := strings.Repeat("p", 100_000) + strconv.Itoa(i)
		resp, err := c.Post(b.URL()+"/x", "text/plain", strings.NewReader(payload))
		require.NoError(t, err)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, payload, string(got)[2:], "sized body %d", i)

		pr, pw := io.Pipe()
		go func() { _, _ = io.WriteString(pw, payload); pw.Close() }()
		resp, err = c.Post(b.URL()+"/x", "text/plain", pr)
		require.NoError(t, err)
		got, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, payload, string(got)[2:], "chunked body %d", i)
	}
}

func TestBalancerWithNoLiveReplicaIs502(t *testing.T) {
	b := balance(t, deadAddr(t), deadAddr(t))
	status, _ := get(t, &http.Client{}, b.URL()+"/x")
	assert.Equal(t, http.StatusBadGateway, status)
	status, body := get(t, &http.Client{}, b.URL()+"/api/tickets")
	assert.Equal(t, http.StatusBadGateway, status)
	assert.JSONEq(t, `{"errors":[{"message":"Bad Gateway"}]}`, body, "as the ingress answers a Service with no endpoint")
}

func TestBalancerKeepsHostAndForwardingHeaders(t *testing.T) {
	seen := make(chan http.Header, 1)
	hosts := make(chan string, 1)
	rs := newReplicas(t, 1, func(_ int, w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		hosts <- r.Host
	})
	b := balance(t, addrOf(rs[0]))
	req, err := http.NewRequest("GET", b.URL()+"/api/x?q=1", nil)
	require.NoError(t, err)
	req.Host = "ticketing.dev"
	req.Header.Set("X-Forwarded-For", "10.0.0.7")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Host", "ticketing.dev")
	req.Header.Set("Cookie", "session=abc")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	h := <-seen
	assert.Equal(t, "ticketing.dev", <-hosts)
	assert.Equal(t, "10.0.0.7", h.Get("X-Forwarded-For"), "nothing appended: a Service is transparent")
	assert.Equal(t, "https", h.Get("X-Forwarded-Proto"))
	assert.Equal(t, "ticketing.dev", h.Get("X-Forwarded-Host"))
	assert.Equal(t, "session=abc", h.Get("Cookie"))
}

func TestBalancerStreamsServerSentEvents(t *testing.T) {
	release := make(chan struct{})
	rs := newReplicas(t, 1, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "data: second\n\n")
	})
	b := balance(t, addrOf(rs[0]))
	resp, err := http.Get(b.URL() + "/events")
	require.NoError(t, err)
	defer resp.Body.Close()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case l := <-lines:
		assert.Equal(t, "data: first", l)
	case <-time.After(5 * time.Second):
		t.Fatal("the first event did not arrive before the stream went on")
	}
	close(release)
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	assert.Equal(t, []string{"", "data: second", ""}, rest)
}

func TestBalancerStreamsRequestBodies(t *testing.T) {
	gotFirst := make(chan struct{})
	rs := newReplicas(t, 1, func(_ int, w http.ResponseWriter, r *http.Request) {
		br := bufio.NewReader(r.Body)
		first, _ := br.ReadString('\n')
		if first == "first\n" {
			close(gotFirst)
		}
		rest, _ := io.ReadAll(br)
		fmt.Fprintf(w, "%s%s", first, rest)
	})
	b := balance(t, addrOf(rs[0]))
	pr, pw := io.Pipe()
	done := make(chan string, 1)
	go func() {
		resp, err := http.Post(b.URL()+"/upload", "text/plain", pr)
		if err != nil {
			done <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(body)
	}()
	_, err := io.WriteString(pw, "first\n")
	require.NoError(t, err)
	select {
	case <-gotFirst: // the replica has the start while the rest is unsent
	case <-time.After(5 * time.Second):
		t.Fatal("the replica did not get the start of the body before its end was sent")
	}
	_, err = io.WriteString(pw, "second\n")
	require.NoError(t, err)
	pw.Close()
	assert.Equal(t, "first\nsecond\n", <-done)
}

// getTimed is one GET through c: its status, body and how long it took; a
// failed request is status 0 with the error as body.
func getTimed(c *http.Client, url string) (int, string, time.Duration) {
	start := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error(), time.Since(start)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error(), time.Since(start)
	}
	return resp.StatusCode, string(body), time.Since(start)
}

// The fault run's case: of two replicas, one is stopped with SIGSTOP. Its
// port still accepts connections, so only its silence can tell.
func TestBalancerStopsSendingRequestsToAReplicaThatStopsAnswering(t *testing.T) {
	stopped := startReplicaProcess(t)
	live := newReplicas(t, 1, func(_ int, w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "live") })[0]
	logs := &logBuffer{}
	b := balanceWith(t, logs, nil, addrOf(live), stopped.addr)
	waitState(t, b, addrOf(live), ready, 10*time.Second)
	waitState(t, b, stopped.addr, ready, 10*time.Second)

	stopped.signal(t, syscall.SIGSTOP)
	stoppedAt := time.Now()
	waitState(t, b, stopped.addr, ejected, 2*time.Second)
	t.Logf("ejected %v after SIGSTOP", time.Since(stoppedAt).Round(time.Millisecond))

	// 200 requests from 8 users, each bounded: a request sent to the
	// stopped replica would hang until the client gives up.
	const users, each = 8, 25
	c := &http.Client{Timeout: 3 * time.Second}
	before := live.hits.Load()
	var mu sync.Mutex
	var latencies []time.Duration
	var failures []string
	var wg sync.WaitGroup
	for range users {
		wg.Go(func() {
			for range each {
				status, body, took := getTimed(c, b.URL()+"/api/orders")
				mu.Lock()
				latencies = append(latencies, took)
				if status != http.StatusOK || body != "live" {
					failures = append(failures, fmt.Sprintf("%d %s after %v", status, body, took))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Empty(t, failures, "every request is served by the live replica")
	assert.Equal(t, int64(users*each), live.hits.Load()-before, "the live replica got every request, so the stopped one none")
	slices.Sort(latencies)
	p99 := latencies[len(latencies)*99/100-1]
	t.Logf("p99 %v, max %v over %d requests", p99, latencies[len(latencies)-1], len(latencies))
	assert.Less(t, p99, time.Second)
	assert.Equal(t, 1, logs.count("replica ejected", stopped.addr), "one line for the ejection, none per request:\n%s", logs.buf.String())
}

func TestBalancerSendsRequestsAgainToAReplicaThatAnswersAgain(t *testing.T) {
	resumed := startReplicaProcess(t)
	live := newReplicas(t, 1, func(_ int, w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "live") })[0]
	logs := &logBuffer{}
	b := balanceWith(t, logs, nil, addrOf(live), resumed.addr)
	waitState(t, b, resumed.addr, ready, 10*time.Second)
	resumed.signal(t, syscall.SIGSTOP)
	waitState(t, b, resumed.addr, ejected, 2*time.Second)

	resumed.signal(t, syscall.SIGCONT)
	waitState(t, b, resumed.addr, ready, 5*time.Second)
	c := &http.Client{Timeout: 3 * time.Second}
	served := map[string]int{}
	for range 10 {
		status, body, _ := getTimed(c, b.URL()+"/x")
		require.Equal(t, http.StatusOK, status, body)
		served[body]++
	}
	assert.Equal(t, map[string]int{"live": 5, "process": 5}, served, "round robin over both again")
	assert.Equal(t, 1, logs.count("replica ejected", resumed.addr), logs.buf.String())
	assert.Equal(t, 1, logs.count("replica ready again", resumed.addr), logs.buf.String())
}

func TestBalancerEjectsAReplicaThatIsNotReadyAndTriesAllWhenNoneIs(t *testing.T) {
	rs := newReplicas(t, 2, func(i int, w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, i) })
	logs := &logBuffer{}
	b := balanceWith(t, logs, nil, addrOf(rs[0]), addrOf(rs[1]))
	waitState(t, b, addrOf(rs[0]), ready, 5*time.Second)
	waitState(t, b, addrOf(rs[1]), ready, 5*time.Second)

	rs[0].unready.Store(true) // /readyz: 503
	waitState(t, b, addrOf(rs[0]), ejected, 2*time.Second)
	c := &http.Client{}
	for range 6 {
		status, body := get(t, c, b.URL()+"/x")
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, "1", body, "only the ready replica")
	}
	assert.Equal(t, 1, logs.count("replica ejected", addrOf(rs[0]), "503"), logs.buf.String())

	// With none ready, each is tried in turn rather than none.
	rs[1].unready.Store(true)
	waitState(t, b, addrOf(rs[1]), ejected, 2*time.Second)
	served := map[string]int{}
	for range 6 {
		status, body := get(t, c, b.URL()+"/x")
		require.Equal(t, http.StatusOK, status)
		served[body]++
	}
	assert.Equal(t, map[string]int{"0": 3, "1": 3}, served)
}

// A request that fails at transport level ejects its replica at once, with
// no probe needed (here the next probe is an hour away).
func TestBalancerEjectsAReplicaWhoseRequestFails(t *testing.T) {
	rs := newReplicas(t, 3, func(i int, w http.ResponseWriter, _ *http.Request) {
		if i == 0 { // resets the connection instead of answering
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
			}
			return
		}
		fmt.Fprint(w, i)
	})
	logs := &logBuffer{}
	b := balanceWith(t, logs, func(b *balancer) { b.probeEvery = time.Hour },
		addrOf(rs[0]), addrOf(rs[1]), addrOf(rs[2]))
	for _, r := range rs {
		waitState(t, b, addrOf(r), ready, 5*time.Second)
	}
	c := &http.Client{}

	status, _ := get(t, c, b.URL()+"/x") // replica 0's turn
	assert.Equal(t, http.StatusBadGateway, status, "a request that reached a replica is not sent again")
	waitState(t, b, addrOf(rs[0]), ejected, time.Second)
	hits0 := rs[0].hits.Load()

	// Replica 1 stops listening: a refused dial ejects it too, and the
	// request goes on to the next ready replica.
	rs[1].Close()
	served := map[string]int{}
	for range 6 {
		status, body := get(t, c, b.URL()+"/x")
		require.Equal(t, http.StatusOK, status)
		served[body]++
	}
	assert.Equal(t, map[string]int{"2": 6}, served)
	assert.Equal(t, hits0, rs[0].hits.Load(), "nothing more for the ejected replica")
	assert.Equal(t, 1, logs.count("replica ejected", addrOf(rs[0])), logs.buf.String())
	assert.Equal(t, 1, logs.count("replica ejected", addrOf(rs[1]), "dial"), logs.buf.String())
}

func TestBalancerAnswers502WhenAReplicaSendsNoHeadersInTime(t *testing.T) {
	const timeout = 300 * time.Millisecond
	speak := make(chan struct{})
	var spoke sync.Once
	defer spoke.Do(func() { close(speak) })
	rs := newReplicas(t, 1, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/events" {
			// An event stream sends its headers at once, then may stay
			// quiet far longer than the header timeout.
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select {
			case <-speak:
			case <-r.Context().Done():
				return
			}
			fmt.Fprint(w, "data: late\n\n")
			return
		}
		<-r.Context().Done() // never answers
	})
	logs := &logBuffer{}
	b := balanceWith(t, logs, func(b *balancer) { b.headerTimeout = timeout }, addrOf(rs[0]))
	waitState(t, b, addrOf(rs[0]), ready, 5*time.Second)

	c := &http.Client{Timeout: 10 * time.Second}
	stream, err := c.Get(b.URL() + "/events")
	require.NoError(t, err)
	defer stream.Body.Close()
	require.Equal(t, http.StatusOK, stream.StatusCode)

	// Begun after the stream's, this request's header timeout ends after
	// the stream's would have.
	status, body, took := getTimed(c, b.URL()+"/api/orders")
	assert.Equal(t, http.StatusBadGateway, status)
	assert.JSONEq(t, `{"errors":[{"message":"Bad Gateway"}]}`, body)
	assert.GreaterOrEqual(t, took, timeout)
	assert.Less(t, took, timeout+time.Second, "no longer than the header timeout")
	t.Logf("answered after %v", took.Round(time.Millisecond))
	assert.Equal(t, 1, logs.count("replica ejected", "timeout awaiting response headers"), logs.buf.String())

	spoke.Do(func() { close(speak) })
	late, err := io.ReadAll(stream.Body)
	require.NoError(t, err)
	assert.Equal(t, "data: late\n\n", string(late), "a stream quiet for longer than the header timeout is not cut")
}

func TestBalancerStopJoinsItsProbes(t *testing.T) {
	probes := func() int { return testkit.Goroutines("ticketing.dev/infra/stack.(*balancer).probe(") }
	require.Zero(t, probes())
	// A stopped process keeps its probe waiting for an answer; the probe
	// timeout is long so that only stop can end it.
	hung := startReplicaProcess(t)
	hung.signal(t, syscall.SIGSTOP)
	live := newReplicas(t, 1, func(_ int, w http.ResponseWriter, _ *http.Request) {})[0]
	b := balanceWith(t, nil, func(b *balancer) { b.probeTimeout = time.Minute },
		addrOf(live), hung.addr, deadAddr(t))
	waitState(t, b, addrOf(live), ready, 5*time.Second)
	assert.Equal(t, 3, probes(), "one per replica")

	start := time.Now()
	b.stop(&console{out: io.Discard})
	assert.Less(t, time.Since(start), 2*time.Second, "the hung probe was cut, not waited out")
	assert.Zero(t, probes(), "every probe has returned by the time stop does")
}
