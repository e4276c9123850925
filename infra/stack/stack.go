package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"ticketing.dev/common/service"
	"ticketing.dev/infra/ingress"
)

// services lists every service the stack knows, in start order; those
// whose folder holds a go.mod are run.
func services() []string {
	return []string{"auth", "tickets", "orders", "payments", "expiration", "client"}
}

// Stack is the running app.
type Stack struct {
	cfg      Config
	mongoURI string
	ports    map[string]string
	con      *console
	procs    map[string]*process
	names    []string
	url      string
	cancel   context.CancelFunc
	stops    []func() // infrastructure, stopped in reverse order
	ingress  *http.Server
	served   chan error
}

// Start brings the whole app up and returns once every service answers
// /readyz. On error, whatever was started is stopped again.
func Start(ctx context.Context, cfg Config) (_ *Stack, err error) {
	con := &console{out: cfg.Out}
	s := &Stack{cfg: cfg, con: con, procs: map[string]*process{}}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if cfg.BinDir == "" {
		cfg.BinDir = filepath.Join(cfg.DataDir, "bin")
	}
	if err := checkDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	// Bind the ingress first: a taken port is the commonest failure and
	// should be reported before anything slow happens.
	ln, err := net.Listen("tcp", cfg.IngressAddr)
	if err != nil {
		return nil, fmt.Errorf("INGRESS_ADDR %s is not available (already in use?): %w", cfg.IngressAddr, err)
	}
	s.stops = append(s.stops, func() { ln.Close() })
	if err := checkFree("NATS_ADDR", cfg.NATSAddr); err != nil {
		return nil, err
	}
	routes, err := ingress.Load(filepath.Join(cfg.Root, "infra", "k8s", "ingress-srv.yaml"))
	if err != nil {
		return nil, err
	}

	for _, name := range services() {
		if _, err := os.Stat(filepath.Join(cfg.Root, name, "go.mod")); err == nil {
			s.names = append(s.names, name)
		}
	}
	con.printf("building %s", strings.Join(s.names, ", "))
	if err := build(ctx, cfg.Root, cfg.BinDir, s.names); err != nil {
		return nil, err
	}

	key, err := jwtKey(cfg)
	if err != nil {
		return nil, err
	}

	mongoURI := cfg.MongoURL
	if mongoURI == "" {
		uri, stop, err := startEngine(ctx, cfg.Root, filepath.Join(cfg.DataDir, "postgres"), con)
		if err != nil {
			return nil, err
		}
		s.stops = append(s.stops, stop)
		mongoURI = uri
	}

	bus, err := startSTAN(cfg.NATSAddr, filepath.Join(cfg.DataDir, "nats"))
	if err != nil {
		return nil, err
	}
	s.stops = append(s.stops, bus.Shutdown)

	env := map[string]string{
		"HOST": "127.0.0.1", "JWT_KEY": key, "COOKIE_SECURE": "false", "LOG_LEVEL": cfg.LogLevel,
		"NATS_URL": bus.ClientURL(), "NATS_CLUSTER_ID": "ticketing",
	}
	if cfg.ExpirationWindow != "" {
		env["EXPIRATION_WINDOW"] = cfg.ExpirationWindow
	}
	if s.has("expiration") {
		redis, addr, err := startRedis(cfg.Root, con, filepath.Join(cfg.DataDir, "redis"))
		if err != nil {
			return nil, err
		}
		s.stops = append(s.stops, redis.stop)
		host, port, _ := net.SplitHostPort(addr)
		env["REDIS_HOST"], env["REDIS_PORT"] = host, port
	}
	if s.has("payments") {
		env["STRIPE_KEY"] = cfg.StripeKey
		if cfg.StripeKey == "" {
			mock, url, err := startStripeMock(ctx, cfg.Root, con)
			if err != nil {
				return nil, err
			}
			s.stops = append(s.stops, mock.stop)
			env["STRIPE_KEY"], env["STRIPE_API_BASE"] = "sk_test_stripemock", url
		}
	}

	// Ports first, so every service knows where the others are (the
	// client calls the APIs by these URLs, as by service names in-cluster).
	ports := map[string]string{}
	for _, name := range s.names {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[name] = strconv.Itoa(p)
		env[strings.ToUpper(name)+"_URL"] = "http://127.0.0.1:" + ports[name]
	}

	s.mongoURI, s.ports = mongoURI, ports
	superviseCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	for _, name := range s.names {
		p := &process{
			name: name,
			bin:  filepath.Join(cfg.BinDir, name),
			con:  con,
			done: make(chan struct{}),
			env: func() []string {
				out := os.Environ()
				for k, v := range env {
					out = append(out, k+"="+v)
				}
				out = append(out,
					"PORT="+ports[name],
					"MONGO_URI="+service.WithDatabase(mongoURI, name),
					"NATS_CLIENT_ID="+name+"-"+randomSuffix())
				return append(out, cfg.ServiceEnv[name]...)
			},
		}
		s.procs[name] = p
		go p.supervise(superviseCtx)
	}

	resolve := func(backend string) (string, bool) {
		name, _, _ := strings.Cut(backend, "-srv:")
		port, ok := ports[name]
		return "127.0.0.1:" + port, ok
	}
	s.ingress = &http.Server{
		Handler:           ingress.Handler(routes, resolve, slog.New(slog.NewTextHandler(con.writer("ingress"), nil))),
		ReadHeaderTimeout: 10 * time.Second,
	}
	s.served = make(chan error, 1)
	go func() { s.served <- s.ingress.Serve(ln) }()
	s.url = "http://" + ln.Addr().String()

	if err := s.waitReady(ctx, ports); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Stack) has(name string) bool {
	for _, n := range s.names {
		if n == name {
			return true
		}
	}
	return false
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// readyTimeout allows for a first FerretDB start on a slow machine.
const readyTimeout = 2 * time.Minute

func (s *Stack) waitReady(ctx context.Context, ports map[string]string) error {
	client := http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	for _, name := range s.names {
		for {
			resp, err := client.Get("http://127.0.0.1:" + ports[name] + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not become ready within %s (see its output above)", name, readyTimeout)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// URL is the ingress's base URL.
func (s *Stack) URL() string { return s.url }

// Services lists the services the stack runs.
func (s *Stack) Services() []string { return append([]string(nil), s.names...) }

// Kill kills a service's current process without warning, as a crash
// would; the supervisor restarts it.
func (s *Stack) Kill(name string) error {
	p, ok := s.procs[name]
	if !ok {
		return fmt.Errorf("no service %q", name)
	}
	return p.signal(syscall.SIGKILL)
}

// PID is the process id of a service's current process, 0 if none.
func (s *Stack) PID(name string) int {
	if p, ok := s.procs[name]; ok {
		_, pid := p.started()
		return pid
	}
	return 0
}

// Root is the repository root the stack runs from.
func (s *Stack) Root() string { return s.cfg.Root }

// MongoURI is the MongoDB server the services use (no database in it).
func (s *Stack) MongoURI() string { return s.mongoURI }

// ServiceURL is a service's own base URL, bypassing the ingress.
func (s *Stack) ServiceURL(name string) string { return "http://127.0.0.1:" + s.ports[name] }

// Restart stops a service gracefully and returns how long its next process
// took from start to answering /readyz: its cold start, with the
// infrastructure already up.
func (s *Stack) Restart(ctx context.Context, name string) (time.Duration, error) {
	p, ok := s.procs[name]
	if !ok {
		return 0, fmt.Errorf("no service %q", name)
	}
	_, old := p.started()
	if err := p.signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	client := http.Client{Timeout: time.Second}
	for {
		if start, pid := p.started(); pid != 0 && pid != old {
			resp, err := client.Get(s.ServiceURL(name) + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return time.Since(start), nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// Stop stops everything in reverse order of start: the ingress, the
// services (SIGTERM, then SIGKILL after a grace period), then the
// infrastructure. It is safe to call more than once.
func (s *Stack) Stop() {
	if s.ingress != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = s.ingress.Shutdown(ctx)
		cancel()
		if err := <-s.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.con.printf("ingress: %v", err)
		}
		s.ingress = nil
	}
	if s.cancel != nil {
		s.cancel()
		for i := len(s.names) - 1; i >= 0; i-- {
			if p := s.procs[s.names[i]]; p != nil {
				p.stop()
			}
		}
		s.cancel = nil
	}
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
	s.stops = nil
}
