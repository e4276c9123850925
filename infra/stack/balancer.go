package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"

	"ticketing.dev/infra/ingress"
)

// balancer is one service's load balancer, as its Kubernetes Service: a
// loopback listener that sends each request to the next replica in turn
// (round robin). A replica that refuses connections (crashed, restarting,
// not listening yet) is skipped at dial time, before anything of the
// request is sent, so a request succeeds while any replica is up.
//
// It is an HTTP proxy rather than a TCP one so that balancing is per
// request even over kept-alive connections, as ingress-nginx balances over
// a Service's endpoints. It is otherwise transparent: Host and the
// X-Forwarded-* headers pass as they came, request bodies are streamed, and
// responses are flushed as they are written (Server-Sent Events).
type balancer struct {
	name      string
	addrs     []string // the replicas' host:port
	next      atomic.Uint64
	transport *http.Transport
	srv       *http.Server
	ln        net.Listener
	served    chan error
	stopOnce  sync.Once
}

// startBalancer listens on a free loopback port and serves at once;
// replicas not yet listening are skipped like dead ones.
func startBalancer(name string, addrs []string, log *slog.Logger) (*balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("%s load balancer: %w", name, err)
	}
	b := newBalancer(name, addrs, log)
	b.ln = ln
	b.served = make(chan error, 1)
	go func() { b.served <- b.srv.Serve(ln) }()
	return b, nil
}

func newBalancer(name string, addrs []string, log *slog.Logger) *balancer {
	b := &balancer{
		name:  name,
		addrs: addrs,
		transport: &http.Transport{
			Proxy:               nil, // loopback replicas; never an outbound proxy
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true, // pass Accept-Encoding and bodies as they are
		},
	}
	proxy := &httputil.ReverseProxy{
		Transport:     b,
		FlushInterval: -1, // stream: flush after every write
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = name // RoundTrip puts the replica here
			pr.Out.Host = pr.In.Host
			// Rewrite starts without the forwarding headers; a Service
			// adds none and drops none.
			for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				if v, ok := pr.In.Header[h]; ok {
					pr.Out.Header[h] = v
				}
			}
		},
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			log.Warn("replica unreachable", "service", name, "path", req.URL.Path, "err", err)
			// What the ingress would answer for a Service with no ready
			// endpoint: a 502, in the envelope on /api/ paths.
			ingress.WriteError(w, req, http.StatusBadGateway, "Bad Gateway")
		},
	}
	b.srv = &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	return b
}

// URL is the balancer's base URL.
func (b *balancer) URL() string { return "http://" + b.ln.Addr().String() }

// RoundTrip sends req to the next replica in turn, trying the following
// ones while a replica cannot be dialled.
func (b *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	var body *unsentBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &unsentBody{rc: req.Body}
	}
	n := uint64(len(b.addrs))
	first := b.next.Add(1) - 1
	var err error
	for k := range n {
		addr := b.addrs[(first+k)%n]
		out := req.WithContext(req.Context()) // shallow copy per attempt
		u := *req.URL
		u.Host = addr
		out.URL = &u
		if body != nil {
			out.Body = body
		}
		var resp *http.Response
		resp, err = b.transport.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		if !isDialError(err) || (body != nil && body.touched.Load()) || req.Context().Err() != nil {
			break
		}
	}
	if body != nil {
		body.rc.Close()
	}
	if isDialError(err) {
		return nil, fmt.Errorf("no replica of %s accepts connections: %w", b.name, err)
	}
	return nil, err
}

// isDialError is true when no connection was made, so nothing was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// unsentBody lets a request body be offered to another replica after a
// failed dial: the transport closes a request's body on every error, so
// Close is held back until the body has been read from, which happens only
// once a connection is up.
type unsentBody struct {
	rc      io.ReadCloser
	touched atomic.Bool
}

func (u *unsentBody) Read(p []byte) (int, error) {
	u.touched.Store(true)
	return u.rc.Read(p)
}

func (u *unsentBody) Close() error {
	if u.touched.Load() {
		return u.rc.Close()
	}
	return nil
}

// stop closes the listener, lets requests in flight finish for a moment,
// then cuts the rest (long-lived streams). Only the first call acts.
func (b *balancer) stop(con *console) {
	b.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.srv.Shutdown(ctx); err != nil {
			_ = b.srv.Close()
		}
		if err := <-b.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			con.printf("%s load balancer: %v", b.name, err)
		}
		b.transport.CloseIdleConnections()
	})
}
