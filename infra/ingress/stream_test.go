package ingress_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/infra/ingress"
)

func TestShutdownEndsOpenEventStreamsAndLetsOtherRequestsFinish(t *testing.T) {
	t.Parallel()
	inFlight, release := make(chan struct{}), make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" { // an ordinary request that ends when the test says
			close(inFlight)
			<-release
			fmt.Fprint(w, "finished")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: hello\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // a stream that never ends by itself
	}))
	defer backend.Close()
	var releaseOnce sync.Once
	letFinish := func() { releaseOnce.Do(func() { close(release) }) }
	defer letFinish() // before the backend's Close, which waits for its handlers
	addr := strings.TrimPrefix(backend.URL, "http://")
	table, err := ingress.Load(manifest)
	require.NoError(t, err)
	log := slog.New(slog.DiscardHandler)
	srv := ingress.NewServer(ingress.Handler(table, func(string) (string, bool) { return addr, true }, log), ingress.Timeouts{}, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close() // should the shutdown fail, so that the backend's Close is not held up
	base := "http://" + ln.Addr().String()

	resp, err := http.Get(base + "/live")
	require.NoError(t, err)
	defer resp.Body.Close()
	stream := bufio.NewReader(resp.Body)
	line, err := stream.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "data: hello\n", line)

	slow := make(chan string, 1)
	go func() {
		r, err := http.Get(base + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		defer r.Body.Close()
		b := make([]byte, 16)
		n, _ := r.Body.Read(b)
		slow <- string(b[:n])
	}()
	select {
	case <-inFlight:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow request never reached the backend")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Shutdown(ctx) }()
	ended := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, stream); ended <- err }()
	select {
	case <-ended: // cut by the shutdown, while the slow request is still under way
	case <-ctx.Done():
		t.Fatal("the shutdown did not end the open stream")
	}
	letFinish()
	select {
	case err := <-stopped:
		require.NoError(t, err, "the open stream does not hold up the stop")
	case <-time.After(5 * time.Second):
		t.Fatal("the shutdown did not return once the slow request finished")
	}
	assert.Equal(t, "finished", <-slow, "an ordinary request still runs to its end")
}
