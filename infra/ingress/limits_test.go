package ingress_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/infra/ingress"
)

// front is the ingress over the manifest's table, every backend resolved
// to the same test server, which counts the requests it is sent.
type front struct {
	URL      string
	backend  *httptest.Server
	requests atomic.Int64
	// next lets the backend's /live stream write its next event.
	next chan struct{}
}

func newFront(t *testing.T, table ingress.Table, timeouts ingress.Timeouts) *front {
	t.Helper()
	f := &front{next: make(chan struct{})}
	f.backend = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if r.URL.Path == "/api/refuse" { // answers before reading, as the client's 415 does
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/big" {
			_, _ = io.Copy(w, io.LimitReader(zeros{}, 64<<20))
			return
		}
		if r.URL.Path == "/live" { // an event stream of 4 events, each after the test says next
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 4 {
				if i > 0 {
					select {
					case <-f.next:
					case <-r.Context().Done():
						return
					}
				}
				fmt.Fprintf(w, "data: %d\n\n", i)
				w.(http.Flusher).Flush()
			}
			return
		}
		fmt.Fprintf(w, "read %d", n)
	}))
	t.Cleanup(f.backend.Close)
	log := slog.New(slog.DiscardHandler)
	addr := strings.TrimPrefix(f.backend.URL, "http://")
	h := ingress.Handler(table, func(b string) (string, bool) { return addr, b != "tickets-srv:3000" || addr != "" }, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := ingress.NewServer(h, timeouts, log)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	f.URL = "http://" + ln.Addr().String()
	return f
}

func manifestTable(t *testing.T) ingress.Table {
	t.Helper()
	table, err := ingress.Load(manifest)
	require.NoError(t, err)
	return table
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// chunked hides a reader's length, so the request is sent chunked.
type chunked struct{ io.Reader }

func envelopeOf(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	return string(b)
}

func TestTenMBBodyThroughTheIngressIs413WithTheEnvelope(t *testing.T) {
	t.Parallel()
	f := newFront(t, manifestTable(t), ingress.Timeouts{})
	for name, body := range map[string]io.Reader{
		"with a length": io.LimitReader(zeros{}, 10<<20),
		"chunked":       chunked{io.LimitReader(zeros{}, 10<<20)},
	} {
		resp, err := http.Post(f.URL+"/api/tickets", "application/json", body)
		require.NoError(t, err, name)
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, name)
		assert.JSONEq(t, `{"errors":[{"message":"Request body too large: the limit is 1 MiB"}]}`, envelopeOf(t, resp), name)
	}
	resp, err := http.Post(f.URL+"/tickets/new", "application/x-www-form-urlencoded", io.LimitReader(zeros{}, 10<<20))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "pages too")

	before := f.requests.Load()
	resp, err = http.Post(f.URL+"/api/tickets", "application/json", io.LimitReader(zeros{}, 1<<20))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "read 1048576", string(b), "exactly the limit passes, whole")
	assert.Equal(t, before+1, f.requests.Load())
}

func TestAChunkedBodyOverTheLimitIs413EvenWhenTheBackendWouldAnswerBeforeReading(t *testing.T) {
	t.Parallel()
	f := newFront(t, manifestTable(t), ingress.Timeouts{})
	for range 10 {
		resp, err := http.Post(f.URL+"/api/refuse", "multipart/form-data; boundary=x", chunked{io.LimitReader(zeros{}, 10<<20)})
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	}
	assert.Zero(t, f.requests.Load(), "the backend never saw them")

	resp, err := http.Post(f.URL+"/api/tickets", "application/json", chunked{strings.NewReader(strings.Repeat("a", 5000))})
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "read 5000", string(b), "a chunked body within the limit passes whole")
}

func TestBodyLimitComesFromTheProxyBodySizeAnnotation(t *testing.T) {
	t.Parallel()
	for _, route := range manifestTable(t) {
		assert.EqualValues(t, 1<<20, route.BodyLimit, route.Path)
	}
	parse := func(size string) (ingress.Table, error) {
		return ingress.Parse([]byte(`
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: x
  annotations: {nginx.ingress.kubernetes.io/proxy-body-size: "` + size + `"}
spec:
  rules:
    - http:
        paths:
          - {path: "/?(.*)", pathType: ImplementationSpecific, backend: {service: {name: a, port: {number: 1}}}}
`))
	}
	for size, want := range map[string]int64{"8k": 8 << 10, "2M": 2 << 20, "1g": 1 << 30, "500": 500, "0": 0} {
		table, err := parse(size)
		require.NoError(t, err, size)
		assert.Equal(t, want, table[0].BodyLimit, size)
	}
	_, err := parse("lots")
	assert.ErrorContains(t, err, "proxy-body-size")

	table, err := parse("8k")
	require.NoError(t, err)
	f := newFront(t, table, ingress.Timeouts{})
	resp, err := http.Post(f.URL+"/api/x", "application/json", strings.NewReader(strings.Repeat("a", 8<<10+1)))
	require.NoError(t, err)
	assert.Equal(t, 413, resp.StatusCode)
	assert.Contains(t, envelopeOf(t, resp), "the limit is 8 KiB")
}

func TestIngressErrorsOnAPIPathsCarryTheEnvelope(t *testing.T) {
	t.Parallel()
	table, err := ingress.Parse([]byte(`
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: x}
spec:
  rules:
    - http:
        paths:
          - {path: "/api/users/?(.*)", pathType: ImplementationSpecific, backend: {service: {name: auth-srv, port: {number: 3000}}}}
          - {path: "/api/tickets/?(.*)", pathType: ImplementationSpecific, backend: {service: {name: tickets-srv, port: {number: 3000}}}}
          - {path: "/app/?(.*)", pathType: ImplementationSpecific, backend: {service: {name: auth-srv, port: {number: 3000}}}}
`))
	require.NoError(t, err)
	down := httptest.NewServer(http.NotFoundHandler())
	downAddr := strings.TrimPrefix(down.URL, "http://")
	down.Close() // nothing listens there any more
	h := ingress.Handler(table, func(b string) (string, bool) { return downAddr, b == "auth-srv:3000" }, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(h)
	defer srv.Close()

	for path, want := range map[string]struct {
		status int
		body   string
	}{
		"/api/x":            {404, `{"errors":[{"message":"Not Found"}]}`},
		"/API/X":            {404, `{"errors":[{"message":"Not Found"}]}`},
		"/api/users/signin": {502, `{"errors":[{"message":"Bad Gateway"}]}`},
		"/api/tickets":      {503, `{"errors":[{"message":"Service Temporarily Unavailable"}]}`},
	} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		assert.Equal(t, want.status, resp.StatusCode, path)
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
		assert.JSONEq(t, want.body, envelopeOf(t, resp), path)
	}
	for path, want := range map[string]int{"/nope": 404, "/app/x": 502} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, path)
		assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"), "pages get nginx-like text: %s", path)
	}
}

// closedWithin reads from conn until it is closed (or reset), and returns
// how long that took from start and the first line of what it answered.
func closedWithin(conn net.Conn, start time.Time, limit time.Duration) (time.Duration, string) {
	_ = conn.SetReadDeadline(time.Now().Add(limit))
	b, err := io.ReadAll(conn)
	first, _, _ := strings.Cut(string(b), "\r\n")
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return -1, first // still open at the limit
	}
	return time.Since(start), first
}

// Slowloris (headers or body dribbled in), a reader that never reads and
// an idle kept-alive connection are each cut at their timeout, while
// ordinary requests are served throughout.
func TestSlowAndIdleConnectionsAreCutAtTheTimeoutsWhileOthersAreServed(t *testing.T) {
	t.Parallel()
	timeouts := ingress.Timeouts{Header: 300 * time.Millisecond, Read: 600 * time.Millisecond, Write: 600 * time.Millisecond, Idle: 300 * time.Millisecond}
	f := newFront(t, manifestTable(t), timeouts)
	addr := strings.TrimPrefix(f.URL, "http://")
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	dribble := func(c net.Conn, head string, each string) {
		go func() {
			if _, err := io.WriteString(c, head); err != nil {
				return
			}
			for range 100 {
				time.Sleep(50 * time.Millisecond)
				if _, err := io.WriteString(c, each); err != nil {
					return
				}
			}
		}()
	}

	type result struct {
		name  string
		took  time.Duration
		first string
		min   time.Duration
	}
	results := make(chan result, 64)
	var wg sync.WaitGroup

	// A reader that never reads a 64 MB answer; its answer has begun
	// (one byte read) before any other connection below is opened.
	slowReader := dial()
	_, _ = io.WriteString(slowReader, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = slowReader.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := slowReader.Read(make([]byte, 1))
	require.NoError(t, err)
	_ = slowReader.SetReadDeadline(time.Time{})

	start := time.Now()
	for i := range 8 {
		slowHeaders, slowBody, idle := dial(), dial(), dial()
		dribble(slowHeaders, "GET /api/tickets HTTP/1.1\r\nHost: x\r\n", "X-Slow: 1\r\n")
		dribble(slowBody, "POST /api/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n", "a")
		wg.Go(func() {
			took, first := closedWithin(slowHeaders, start, 3*time.Second)
			results <- result{fmt.Sprint("slow headers ", i), took, first, timeouts.Header}
		})
		wg.Go(func() {
			took, first := closedWithin(slowBody, start, 3*time.Second)
			results <- result{fmt.Sprint("slow body ", i), took, first, timeouts.Read}
		})
		wg.Go(func() {
			_, _ = io.WriteString(idle, "GET /api/tickets HTTP/1.1\r\nHost: x\r\n\r\n")
			br := bufio.NewReader(idle)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				results <- result{fmt.Sprint("idle ", i), -1, err.Error(), 0}
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			served := time.Now()
			_ = idle.SetReadDeadline(time.Now().Add(3 * time.Second))
			_, err = br.ReadByte()
			took := time.Since(served)
			if err == nil || strings.Contains(err.Error(), "timeout") {
				took = -1
			}
			results <- result{fmt.Sprint("idle ", i), took, "", timeouts.Idle}
		})
	}
	// Meanwhile everyone else is served, promptly: once while every slow
	// connection is held, and again as each is cut.
	client := &http.Client{Timeout: time.Second}
	served := func() {
		resp, err := client.Get(f.URL + "/api/tickets")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
	}
	served()
	var cut []result
	for len(cut) < 3*8 {
		cut = append(cut, <-results) // each comes within closedWithin's 3 s
		served()
	}
	wg.Wait()
	for _, r := range cut {
		t.Logf("%s: cut after %s %s", r.name, r.took.Round(time.Millisecond), r.first)
		assert.True(t, r.took >= 0, "%s: still open after 3 s (%s)", r.name, r.first)
		assert.GreaterOrEqual(t, r.took, r.min-50*time.Millisecond, "%s: cut before its timeout", r.name)
		assert.Less(t, r.took, r.min+time.Second, "%s: cut late", r.name)
		if strings.HasPrefix(r.name, "slow body") && r.first != "" {
			assert.Equal(t, "HTTP/1.1 408 Request Timeout", r.first, r.name)
		}
	}

	// The reader that never read: its answer was cut, not held for ever.
	// Its write deadline has passed: the slow bodies, whose requests began
	// after its answer did, were cut at the read timeout, which is as long.
	_ = slowReader.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := io.Copy(io.Discard, slowReader)
	if err != nil {
		assert.NotContains(t, err.Error(), "timeout", "the slow reader's connection is still open")
	}
	assert.Less(t, n, int64(64<<20), "the 64 MB answer was cut")
}

func TestEventStreamsOutliveTheWriteTimeoutAndArriveAsWritten(t *testing.T) {
	t.Parallel()
	// The header timeout is as long as the write timeout: a connection
	// that sends nothing, opened after the stream's request was read, is
	// cut only once the stream's write deadline has passed.
	timeouts := ingress.Timeouts{Write: 200 * time.Millisecond, Header: 200 * time.Millisecond}
	f := newFront(t, manifestTable(t), timeouts)
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(f.URL + "/live")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	require.True(t, sc.Scan(), "the first event arrives while the backend holds the stream")
	assert.Equal(t, "data: 0", sc.Text())

	silent, err := net.Dial("tcp", strings.TrimPrefix(f.URL, "http://"))
	require.NoError(t, err)
	defer silent.Close()
	took, _ := closedWithin(silent, time.Now(), 3*time.Second)
	require.GreaterOrEqual(t, took, timeouts.Header-50*time.Millisecond, "the silent connection was cut at the header timeout")

	var rest []string
	for range 3 {
		f.next <- struct{}{}
		for sc.Scan() && sc.Text() == "" {
		}
		rest = append(rest, sc.Text())
	}
	assert.Equal(t, []string{"data: 1", "data: 2", "data: 3"}, rest, "events written after the write deadline still arrive")
	for sc.Scan() {
		assert.Empty(t, sc.Text(), "nothing after the last event")
	}
	assert.NoError(t, sc.Err(), "the stream ends cleanly when the backend's does")
}
