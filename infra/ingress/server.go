package ingress

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Timeouts bound how long a connection may hold the ingress, as
// ingress-nginx's defaults do: a client sending its headers or body slowly
// (slowloris), reading the answer slowly, or keeping an idle connection
// open is cut, so it cannot pin connections for ever.
type Timeouts struct {
	Header time.Duration // the request's headers (nginx client-header-timeout)
	Read   time.Duration // the whole request, body included (client-body-timeout)
	Write  time.Duration // from the end of the headers to the end of the answer (proxy-read/send-timeout)
	Idle   time.Duration // between requests on a kept-alive connection (keep-alive, 75 s)
}

// DefaultTimeouts are ingress-nginx's (60 s, and 75 s keep-alive), with
// Write past the 60 s a backend has to answer, so a 504 still gets out.
func DefaultTimeouts() Timeouts {
	return Timeouts{Header: 60 * time.Second, Read: 60 * time.Second, Write: 90 * time.Second, Idle: 75 * time.Second}
}

// withDefaults fills the unset timeouts from DefaultTimeouts.
func (t Timeouts) withDefaults() Timeouts {
	def := DefaultTimeouts()
	for _, f := range []struct {
		v *time.Duration
		d time.Duration
	}{{&t.Header, def.Header}, {&t.Read, def.Read}, {&t.Write, def.Write}, {&t.Idle, def.Idle}} {
		if *f.v <= 0 {
			*f.v = f.d
		}
	}
	return t
}

// NewServer is the ingress's HTTP server: h (see Handler) with timeouts t
// (unset ones from DefaultTimeouts) and nginx's 8 KiB × 4 header limit.
func NewServer(h http.Handler, t Timeouts, log *slog.Logger) *http.Server {
	t = t.withDefaults()
	stopping, stop := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.Header,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		// Event streams never finish by themselves: Shutdown ends them
		// (stream.go), while other requests still run to their end.
		BaseContext: func(net.Listener) context.Context { return withStopping(context.Background(), stopping) },
	}
	srv.RegisterOnShutdown(stop)
	return srv
}
