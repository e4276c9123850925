package ingress

import (
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
type streamWriter struct {
	http.ResponseWriter
}

func (s streamWriter) WriteHeader(code int) {
	if mt, _, err := mime.ParseMediaType(s.Header().Get("Content-Type")); err == nil && mt == "text/event-stream" {
		_ = http.NewResponseController(s.ResponseWriter).SetWriteDeadline(time.Time{})
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController (the proxy's flushes) reach the
// connection.
func (s streamWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
