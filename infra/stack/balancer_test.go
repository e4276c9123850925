package stack

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// replicaServer answers with its index and counts its requests.
type replicaServer struct {
	*httptest.Server
	hits atomic.Int64
}

func newReplicas(t *testing.T, n int, h func(i int, w http.ResponseWriter, r *http.Request)) []*replicaServer {
	t.Helper()
	out := make([]*replicaServer, n)
	for i := range out {
		rs := &replicaServer{}
		rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	b, err := startBalancer("svc", addrs, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(func() { b.stop(&console{out: io.Discard}) })
	return b
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
	c := &http.Client{} // one kept-alive connection to the balancer
	var order []string
	for range 9 {
		status, body := get(t, c, b.URL()+"/x")
		require.Equal(t, 200, status)
		order = append(order, body)
	}
	assert.Equal(t, []string{"0", "1", "2", "0", "1", "2", "0", "1", "2"}, order)
}

func TestBalancerSkipsAReplicaThatRefusesConnections(t *testing.T) {
	rs := newReplicas(t, 2, func(i int, w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d:%s", i, body)
	})
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
