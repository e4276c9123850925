package ingress

import (
	"context"
	"mime"
	"net/http"
	"time"
)

// streamWriter lifts the server's WriteTimeout (an absolute deadline per
// request, see NewServer) from answers that are event streams: Server-Sent
// Events stay open for as long as the browser keeps them, and ingress-nginx,
// which this ingress stands in for, has no such deadline either (only its
// proxy-read-timeout between two reads, which the stream's heartbeats
// keep). httputil.ReverseProxy already flushes event streams at once.
//
// A server's Shutdown waits for active requests, and a stream stays active
// for as long as the browser keeps it: at Shutdown, streams are cut
// (end, cancelling the proxied request), so that the browser reconnects to
// whatever serves next and the stop is not held up.
type streamWriter struct {
	http.ResponseWriter
	req *http.Request
	end context.CancelFunc
}

func (s streamWriter) WriteHeader(code int) {
	if mt, _, err := mime.ParseMediaType(s.Header().Get("Content-Type")); err == nil && mt == "text/event-stream" {
		_ = http.NewResponseController(s.ResponseWriter).SetWriteDeadline(time.Time{})
		if stopping, ok := s.req.Context().Value(stoppingKey{}).(context.Context); ok {
			done := s.req.Context().Done()
			go func() {
				select {
				case <-stopping.Done():
					s.end()
				case <-done:
				}
			}()
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

type stoppingKey struct{}

// withStopping marks ctx with the server's shutdown signal.
func withStopping(ctx, stopping context.Context) context.Context {
	return context.WithValue(ctx, stoppingKey{}, stopping)
}

// serveStream proxies req through p with a writer that handles streams.
func serveStream(p http.Handler, w http.ResponseWriter, req *http.Request) {
	ctx, end := context.WithCancel(req.Context())
	defer end()
	req = req.WithContext(ctx)
	p.ServeHTTP(streamWriter{ResponseWriter: w, req: req, end: end}, req)
}

// Unwrap lets http.ResponseController (the proxy's flushes) reach the
// connection.
func (s streamWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
