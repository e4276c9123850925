package stack

import (
	"context"
	"crypto/rand"
	_ "embed"
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
	"sync"
	"syscall"
	"time"

	"ticketing.dev/common/events"
	"ticketing.dev/common/service"
	"ticketing.dev/infra/ingress"
)

// servicesFile is the list of the app's services (the file services, which
// the Makefile reads too).
//
//go:embed services
var servicesFile string

// Services lists every service of the app, in start order; the stack runs
// those whose folder holds a go.mod.
func Services() []string {
	var out []string
	for _, line := range strings.Split(servicesFile, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

// Stack is the running app. Each service runs as Config.Replicas
// processes ("replicas", numbered from 0), each on its own port, behind one
// load balancer of its own (as a Kubernetes Service); the ingress and the
// services' <NAME>_URL variables point at the balancers.
type Stack struct {
	cfg       Config
	mongoURIs map[string]string // per service, its database server
	dbs       []*process        // per service, its FerretDB
	dbCancel  context.CancelFunc
	ports     map[string][]string // per service, its replicas' ports
	con       *console
	procs     map[string][]*process // per service, its replicas
	lbs       map[string]*balancer
	names     []string
	url       string
	cancel    context.CancelFunc
	bus       []*process // the bus's servers (infra/cmd/natsbus)
	busURLs   []string
	busCancel context.CancelFunc
	stops     []func() // infrastructure, stopped in reverse order
	ingress   *http.Server
	served    chan error
}

// Start brings the whole app up and returns once every service answers
// /readyz. On error, whatever was started is stopped again.
func Start(ctx context.Context, cfg Config) (_ *Stack, err error) {
	con := &console{out: cfg.Out}
	s := &Stack{cfg: cfg, con: con, procs: map[string][]*process{}, lbs: map[string]*balancer{}}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if err := checkReplicas(cfg.Replicas); err != nil {
		return nil, err
	}
	if cfg.Bus == "" {
		cfg.Bus = events.KindSTAN
	}
	if cfg.NATSServers == 0 {
		cfg.NATSServers = 1
	}
	if err := checkBus(cfg.Bus, cfg.NATSServers); err != nil {
		return nil, err
	}
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

	for _, name := range Services() {
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

	s.mongoURIs = map[string]string{}
	for _, name := range s.names {
		s.mongoURIs[name] = cfg.MongoURL
	}
	if cfg.MongoURL == "" {
		pgURL, stop, err := startEngine(ctx, cfg.Root, filepath.Join(cfg.DataDir, "postgres"), con)
		if err != nil {
			return nil, err
		}
		s.stops = append(s.stops, stop)
		if err := s.startDatabases(ctx, cfg.BinDir, pgURL); err != nil {
			return nil, err
		}
	}

	s.cfg = cfg
	if err := s.startBus(ctx); err != nil {
		return nil, err
	}
	bus := s.Bus()
	env := map[string]string{
		"HOST": "127.0.0.1", "JWT_KEY": key, "COOKIE_SECURE": "false", "LOG_LEVEL": cfg.LogLevel,
		"BUS": bus.Kind, "NATS_URL": bus.URL, "NATS_CLUSTER_ID": bus.ClusterID,
	}
	if bus.Kind == events.KindJetStream {
		env["JETSTREAM_REPLICAS"] = strconv.Itoa(bus.Replicas)
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

	// Ports and balancers first, so every service knows where the others
	// are (the client calls the APIs by these URLs, as by service names
	// in-cluster).
	// The stack binds every replica's port itself and hands the socket over
	// (see process.socket): a port merely found free could be taken by
	// anything else binding or connecting before the service binds it.
	ports := map[string][]string{}
	sockets := map[string][]*socket{}
	for _, name := range s.names {
		for range cfg.Replicas {
			sock, err := listenSocket()
			if err != nil {
				return nil, err
			}
			s.stops = append(s.stops, sock.close)
			sockets[name] = append(sockets[name], sock)
			ports[name] = append(ports[name], strconv.Itoa(sock.port))
		}
	}
	s.ports = ports
	for _, name := range s.names {
		addrs := make([]string, len(ports[name]))
		for i, p := range ports[name] {
			addrs[i] = "127.0.0.1:" + p
		}
		lb, err := startBalancer(name, addrs, slog.New(slog.NewTextHandler(con.writer(name+"-lb"), nil)))
		if err != nil {
			return nil, err
		}
		s.lbs[name] = lb
		env[strings.ToUpper(name)+"_URL"] = lb.URL()
	}
	if cfg.Replicas > 1 {
		con.printf("running %d replicas of each service behind a round-robin load balancer", cfg.Replicas)
	}

	superviseCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	for _, name := range s.names {
		for i, port := range ports[name] {
			label := name
			if cfg.Replicas > 1 {
				label = name + "-" + strconv.Itoa(i)
			}
			p := &process{
				name:   label,
				bin:    filepath.Join(cfg.BinDir, name),
				con:    con,
				done:   make(chan struct{}),
				socket: sockets[name][i].file,
				env: func() []string {
					out := os.Environ()
					for k, v := range env {
						out = append(out, k+"="+v)
					}
					out = append(out,
						"PORT="+port,
						"MONGO_URI="+service.WithDatabase(s.mongoURIs[name], name),
						"NATS_CLIENT_ID="+label+"-"+randomSuffix())
					return append(out, cfg.ServiceEnv[name]...)
				},
			}
			s.procs[name] = append(s.procs[name], p)
			go p.supervise(superviseCtx)
		}
	}

	resolve := func(backend string) (string, bool) {
		name, _, _ := strings.Cut(backend, "-srv:")
		lb, ok := s.lbs[name]
		if !ok {
			return "", false
		}
		return lb.ln.Addr().String(), true
	}
	ingressLog := slog.New(slog.NewTextHandler(con.writer("ingress"), nil))
	s.ingress = ingress.NewServer(ingress.Handler(routes, resolve, ingressLog), cfg.IngressTimeouts, ingressLog)
	s.served = make(chan error, 1)
	go func() { s.served <- s.ingress.Serve(ln) }()
	s.url = "http://" + ln.Addr().String()

	if err := s.waitReady(ctx); err != nil {
		return nil, err
	}
	if err := s.announceMetrics(con); err != nil {
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

// waitReady waits until every replica of every service answers /readyz.
func (s *Stack) waitReady(ctx context.Context) error {
	client := http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	for _, name := range s.names {
		for i, p := range s.procs[name] {
			for {
				resp, err := client.Get(s.ReplicaURL(name, i) + "/readyz")
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("%s did not become ready within %s (see its output above)", p.name, readyTimeout)
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}
	return nil
}

// URL is the ingress's base URL.
func (s *Stack) URL() string { return s.url }

// Services lists the services the stack runs.
func (s *Stack) Services() []string { return append([]string(nil), s.names...) }

// replica is one replica of a service.
func (s *Stack) replica(name string, i int) (*process, error) {
	ps, ok := s.procs[name]
	if !ok {
		return nil, fmt.Errorf("no service %q", name)
	}
	if i < 0 || i >= len(ps) {
		return nil, fmt.Errorf("%s has no replica %d (it has %d)", name, i, len(ps))
	}
	return ps[i], nil
}

// Replicas is how many processes of a service run, 0 for an unknown one.
func (s *Stack) Replicas(name string) int { return len(s.procs[name]) }

// Kill kills replica 0 of a service: KillReplica(name, 0).
func (s *Stack) Kill(name string) error { return s.KillReplica(name, 0) }

// KillReplica kills one replica's current process without warning, as a
// crash would; its supervisor restarts it, and meanwhile the balancer skips
// it.
func (s *Stack) KillReplica(name string, i int) error {
	p, err := s.replica(name, i)
	if err != nil {
		return err
	}
	return p.signal(syscall.SIGKILL)
}

// PID is the process id of replica 0 of a service, 0 if none is running.
func (s *Stack) PID(name string) int { return s.ReplicaPID(name, 0) }

// ReplicaPID is the process id of one replica, 0 if none is running.
func (s *Stack) ReplicaPID(name string, i int) int {
	p, err := s.replica(name, i)
	if err != nil {
		return 0
	}
	_, pid := p.started()
	return pid
}

// Root is the repository root the stack runs from.
func (s *Stack) Root() string { return s.cfg.Root }

// MongoURIOf is the MongoDB server a service uses (no database in it).
func (s *Stack) MongoURIOf(name string) string { return s.mongoURIs[name] }

// ServiceURL is a service's base URL bypassing the ingress: its load
// balancer's, which spreads requests over the replicas as the service's
// Kubernetes Service would. "" for an unknown service.
func (s *Stack) ServiceURL(name string) string {
	if lb, ok := s.lbs[name]; ok {
		return lb.URL()
	}
	return ""
}

// ReplicaURL is one replica's own base URL, bypassing the ingress and the
// balancer. "" for an unknown service or replica.
func (s *Stack) ReplicaURL(name string, i int) string {
	if i < 0 || i >= len(s.ports[name]) {
		return ""
	}
	return "http://127.0.0.1:" + s.ports[name][i]
}

// Restart stops replica 0 of a service gracefully and returns how long its
// next process took from start to answering /readyz: its cold start, with
// the infrastructure already up.
func (s *Stack) Restart(ctx context.Context, name string) (time.Duration, error) {
	p, err := s.replica(name, 0)
	if err != nil {
		return 0, err
	}
	_, old := p.started()
	if err := p.signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	client := http.Client{Timeout: time.Second}
	for {
		if start, pid := p.started(); pid != 0 && pid != old {
			resp, err := client.Get(s.ReplicaURL(name, 0) + "/readyz")
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

// Stop stops everything in reverse order of start: the ingress, the load
// balancers, the services (SIGTERM, then SIGKILL after a grace period),
// then the infrastructure. It is safe to call more than once.
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
	for i := len(s.names) - 1; i >= 0; i-- {
		if lb := s.lbs[s.names[i]]; lb != nil {
			lb.stop(s.con)
		}
	}
	if s.cancel != nil {
		s.cancel()
		// Service by service in reverse order; one service's replicas stop
		// together, each with its own grace period.
		for i := len(s.names) - 1; i >= 0; i-- {
			var wg sync.WaitGroup
			for _, p := range s.procs[s.names[i]] {
				wg.Go(p.stop)
			}
			wg.Wait()
		}
		s.cancel = nil
	}
	if s.dbCancel != nil {
		s.dbCancel()
		var wg sync.WaitGroup
		for _, p := range s.dbs {
			wg.Go(p.stop)
		}
		wg.Wait()
		s.dbCancel = nil
	}
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
	s.stops = nil
}

// usesMongo lists the services with a database of their own.
var usesMongo = map[string]bool{"auth": true, "tickets": true, "orders": true, "payments": true}

// startDatabases runs one FerretDB process per service with a database
// (as Kubernetes runs one MongoDB per service), all over the engine's
// PostgreSQL at pgURL, and waits until each accepts connections.
func (s *Stack) startDatabases(ctx context.Context, binDir, pgURL string) error {
	dbCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.dbCancel = cancel
	for _, name := range s.names {
		if !usesMongo[name] {
			continue
		}
		port, err := freePort()
		if err != nil {
			return err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		p := &process{
			name: name + "-db",
			bin:  filepath.Join(binDir, "ferretdb"),
			con:  s.con,
			done: make(chan struct{}),
			env: func() []string {
				env := append(os.Environ(), "POSTGRESQL_URL="+pgURL, "LISTEN_ADDR="+addr)
				return append(env, s.cfg.ServiceEnv[name+"-db"]...)
			},
		}
		s.dbs = append(s.dbs, p)
		go p.supervise(dbCtx)
		s.mongoURIs[name] = "mongodb://" + addr + "/"
		if err := waitListening(ctx, p.name, addr, time.Minute, nil); err != nil {
			return fmt.Errorf("%s's database: %w", name, err)
		}
	}
	return nil
}
