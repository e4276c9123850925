package ingress_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/infra/ingress"
)

func TestShutdownEndsOpenEventStreamsAndLetsOtherRequestsFinish(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(500 * time.Millisecond)
			fmt.Fprint(w, "finished")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: hello\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // a stream that never ends by itself
	}))
	defer backend.Close()
	addr := strings.TrimPrefix(backend.URL, "http://")
	table, err := ingress.Load(manifest)
	require.NoError(t, err)
	log := slog.New(slog.DiscardHandler)
	srv := ingress.NewServer(ingress.Handler(table, func(string) (string, bool) { return addr, true }, log), ingress.Timeouts{}, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()

	resp, err := http.Get(base + "/live")
	require.NoError(t, err)
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
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
	time.Sleep(100 * time.Millisecond) // the slow request is in flight

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, srv.Shutdown(ctx), "the open stream does not hold up the stop")
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, "finished", <-slow, "an ordinary request still runs to its end")
}
