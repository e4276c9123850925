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

	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/outbox"
	"ticketing.dev/infra/ingress"
)

// balancer is one service's load balancer, as its Kubernetes Service: a
// loopback listener that sends each request to the next ready replica in
// turn (round robin).
//
// A replica is ready once it answers GET /readyz, and stays so until a
// probe gets no answer in time or a non-2xx one, or a request to it fails
// at transport level (refused, reset, no response headers in time), as a
// readiness probe takes a pod out of a Service. A stopped process
// (SIGSTOP) still accepts connections, so without the probe it would be
// sent its turns and hold them until they time out. When no replica is
// ready, every one is tried in turn rather than none, as the balancer did
// before it had probes. A replica that refuses connections is skipped at
// dial time, before anything of the request is sent.
//
// It is an HTTP proxy rather than a TCP one so that balancing is per
// request even over kept-alive connections, as ingress-nginx balances over
// a Service's endpoints. It is otherwise transparent: Host and the
// X-Forwarded-* headers pass as they came, request bodies are streamed, and
// responses are flushed as they are written (Server-Sent Events).
type balancer struct {
	name      string
	replicas  []*replica
	next      atomic.Uint64
	log       *slog.Logger
	transport *http.Transport
	srv       *http.Server
	ln        net.Listener
	served    chan error
	stopOnce  sync.Once

	// Set by newBalancer, changed only before start (the tests shorten them).
	probeEvery    time.Duration // pause between one replica's probes
	probeTimeout  time.Duration // a probe not answered within it fails
	headerTimeout time.Duration // a proxied request without response headers by then fails

	stopProbes context.CancelFunc
	probing    sync.WaitGroup
}

// readyPath is every service's readiness endpoint, the one its Kubernetes
// readinessProbe asks (service.NewRouter and the client's routes serve it).
const readyPath = "/readyz"

// replicaTimeout is how long the balancer waits for a replica's response
// headers: the longest a request may run (the services' deadline, then
// its claimed write's, as idempotency.Longest) and a margin, so a slow
// request gets the service's own answer and only a hung replica meets this
// one. A hung replica costs a request no more than a slow one; /readyz
// probes take it out within a second anyway.
const replicaTimeout = httpapi.RequestTimeout + outbox.WriteDeadline + 2*time.Second

// paymentTimeout is payments' wait instead: a payment has no deadline (it
// waits on Stripe, up to 30 s, and on orders' decision, 10 s by default).
const paymentTimeout = time.Minute

// headerTimeout is the replicaTimeout of the service name.
func headerTimeout(name string) time.Duration {
	if name == "payments" {
		return paymentTimeout
	}
	return replicaTimeout
}

// The probe timings are tighter than Kubernetes' (every 5 s, 3 s timeout in
// infra/k8s) because the local run is what the fault runs measure: a replica
// that stops answering is out within probeEvery+probeTimeout (about 1 s).
// A healthy replica answers /readyz in milliseconds, so 800 ms is far from
// a false alarm, and a false alarm costs little: the replica is back at
// its next answer, and with no replica ready all are tried anyway.
const (
	probeEvery   = 250 * time.Millisecond
	probeTimeout = 800 * time.Millisecond
)

// replica is one of a service's processes as its balancer sees it.
type replica struct {
	addr  string       // host:port
	state atomic.Int32 // starting, ready or ejected
}

const (
	starting int32 = iota // not ready yet since the balancer started
	ready
	ejected // was ready, then failed a probe or a request
)

// startBalancer listens on a free loopback port, serves at once and starts
// probing the replicas; until one of them is ready, each is tried in turn.
func startBalancer(name string, addrs []string, log *slog.Logger) (*balancer, error) {
	b := newBalancer(name, addrs, log)
	if err := b.start(); err != nil {
		return nil, err
	}
	return b, nil
}

func newBalancer(name string, addrs []string, log *slog.Logger) *balancer {
	b := &balancer{
		name:          name,
		log:           log,
		probeEvery:    probeEvery,
		probeTimeout:  probeTimeout,
		headerTimeout: headerTimeout(name),
	}
	for _, a := range addrs {
		b.replicas = append(b.replicas, &replica{addr: a})
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

// start listens, serves, and runs one probe loop per replica.
func (b *balancer) start() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("%s load balancer: %w", b.name, err)
	}
	b.transport = &http.Transport{
		Proxy:               nil, // loopback replicas; never an outbound proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // pass Accept-Encoding and bodies as they are
		// Headers only: an event stream sends its headers at once and may
		// then stay open for as long as the page does.
		ResponseHeaderTimeout: b.headerTimeout,
	}
	b.ln = ln
	b.served = make(chan error, 1)
	go func() { b.served <- b.srv.Serve(ln) }()
	ctx, cancel := context.WithCancel(context.Background())
	b.stopProbes = cancel
	b.probing.Add(len(b.replicas))
	for _, r := range b.replicas {
		go b.probe(ctx, r)
	}
	return nil
}

// URL is the balancer's base URL.
func (b *balancer) URL() string { return "http://" + b.ln.Addr().String() }

// RoundTrip sends req to the next ready replica in turn, trying the
// following ones while a replica cannot be dialled: the other ready ones
// first, then the rest. A replica that fails the request is ejected.
func (b *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	var body *unsentBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &unsentBody{rc: req.Body}
	}
	var err error
	for _, r := range b.order() {
		out := req.WithContext(req.Context()) // shallow copy per attempt
		u := *req.URL
		u.Host = r.addr
		out.URL = &u
		if body != nil {
			out.Body = body
		}
		var resp *http.Response
		resp, err = b.transport.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		// A client that went away, or whose body broke off, says nothing
		// about the replica.
		if req.Context().Err() != nil || (body != nil && body.failed.Load()) {
			break
		}
		b.eject(r, err)
		if !isDialError(err) || (body != nil && body.touched.Load()) {
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

// order is the replicas in the order one request tries them: the ready
// ones from the next in turn on, then the others (tried only when no ready
// one can be dialled, or none is ready).
func (b *balancer) order() []*replica {
	turn := b.next.Add(1) - 1
	var up, down []*replica
	for _, r := range b.replicas {
		if r.state.Load() == ready {
			up = append(up, r)
		} else {
			down = append(down, r)
		}
	}
	out := make([]*replica, 0, len(b.replicas))
	for _, rs := range [][]*replica{up, down} {
		for k := range len(rs) {
			out = append(out, rs[(turn+uint64(k))%uint64(len(rs))])
		}
	}
	return out
}

// probe asks r's readiness every probeEvery until ctx ends.
func (b *balancer) probe(ctx context.Context, r *replica) {
	defer b.probing.Done()
	for {
		err := b.checkReady(ctx, r.addr)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			b.eject(r, err)
		} else if r.state.Swap(ready) == ejected {
			b.log.Info("replica ready again", "service", b.name, "replica", r.addr)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(b.probeEvery):
		}
	}
}

// checkReady is nil when the replica at addr answers its readiness path
// with a 2xx within probeTimeout.
func (b *balancer) checkReady(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, b.probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+readyPath, nil)
	if err != nil {
		return err
	}
	resp, err := b.transport.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("probing %s: %w", readyPath, err)
	}
	// Read to the end so that the connection is kept for the next probe.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("probing %s: %s", readyPath, resp.Status)
	}
	return nil
}

// eject takes a ready replica out of the turns until a probe finds it ready
// again. Only the first failure of a ready replica is logged, so a replica
// that stays down is one line however many requests meet it.
func (b *balancer) eject(r *replica, why error) {
	if r.state.CompareAndSwap(ready, ejected) {
		b.log.Warn("replica ejected", "service", b.name, "replica", r.addr, "err", why)
	}
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
	failed  atomic.Bool // reading it failed: the client's fault, not the replica's
}

func (u *unsentBody) Read(p []byte) (int, error) {
	u.touched.Store(true)
	n, err := u.rc.Read(p)
	if err != nil && err != io.EOF {
		u.failed.Store(true)
	}
	return n, err
}

func (u *unsentBody) Close() error {
	if u.touched.Load() {
		return u.rc.Close()
	}
	return nil
}

// stop closes the listener, lets requests in flight finish for a moment,
// then cuts the rest (long-lived streams), and ends the probes. Only the
// first call acts.
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
		b.stopProbes()
		b.probing.Wait()
		b.transport.CloseIdleConnections()
	})
}

// Balancer is a load balancer built as the stack builds one in front of
// each service's replicas, for measures that need a request's whole path
// through the stack (package bench's ceilings).
type Balancer struct{ b *balancer }

// StartBalancer balances name's requests over the replicas at addrs
// (host:port each, answering /readyz), as the stack does.
func StartBalancer(name string, addrs []string, log *slog.Logger) (*Balancer, error) {
	b, err := startBalancer(name, addrs, log)
	if err != nil {
		return nil, err
	}
	return &Balancer{b: b}, nil
}

// Addr is the balancer's host:port, what the ingress resolves a service to.
func (b *Balancer) Addr() string { return b.b.ln.Addr().String() }

// Stop stops it (see balancer.stop).
func (b *Balancer) Stop() { b.b.stop(&console{out: io.Discard}) }
