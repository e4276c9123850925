// Package stack runs the whole app on one machine without Kubernetes
// (docs/CONTRACT.md §5): FerretDB, the bus (NATS Streaming or nats-server
// with JetStream, as processes of their own), redis-server,
// stripe-mock, each service as REPLICAS supervised processes of its own
// behind a round-robin load balancer (as a Kubernetes Service), and an
// ingress whose routes come from infra/k8s/ingress-srv.yaml.
package stack

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"ticketing.dev/common/events"
	"ticketing.dev/common/service"
	"ticketing.dev/infra/ingress"
)

// MaxReplicas bounds REPLICAS: each replica is a whole process.
const MaxReplicas = 8

func checkReplicas(n int) error {
	if n < 1 || n > MaxReplicas {
		return fmt.Errorf("REPLICAS=%d must be an integer from 1 to %d", n, MaxReplicas)
	}
	return nil
}

// MaxNATSServers bounds NATS_SERVERS: JetStream keeps at most five
// copies of a stream.
const MaxNATSServers = 5

func checkBus(bus string, servers int) error {
	if bus != events.KindSTAN && bus != events.KindJetStream {
		return fmt.Errorf("BUS=%q must be stan or jetstream", bus)
	}
	if servers < 1 || servers > MaxNATSServers {
		return fmt.Errorf("NATS_SERVERS=%d must be an integer from 1 to %d", servers, MaxNATSServers)
	}
	if servers > 1 && bus != events.KindJetStream {
		return fmt.Errorf("NATS_SERVERS=%d needs BUS=jetstream (NATS Streaming runs as one server)", servers)
	}
	return nil
}

// Config is what the stack is told by its environment.
type Config struct {
	Root             string // repository root: go.work and the service folders
	DataDir          string // DATA_DIR: databases, bus, Redis, keys; kept across runs
	BinDir           string // where services are built; default DataDir/bin
	IngressAddr      string // INGRESS_ADDR
	NATSAddr         string // NATS_ADDR
	MongoURL         string // MONGO_URL: an external MongoDB instead of FerretDB
	JWTKey           string // JWT_KEY: default a key generated once per DataDir
	StripeKey        string // STRIPE_KEY: a real key skips stripe-mock
	ExpirationWindow string // EXPIRATION_WINDOW, passed to orders
	LogLevel         string // LOG_LEVEL, passed to the services
	// Bus is BUS: events.KindSTAN (default) or events.KindJetStream.
	Bus string
	// NATSServers is NATS_SERVERS: how many clustered nats-server
	// processes run the bus (JetStream only; 1 to MaxNATSServers, 0
	// means 1); the stream keeps a copy on each. NATS_ADDR is the
	// first's client address.
	NATSServers int
	// Replicas is REPLICAS: how many processes of each service run, each on
	// its own port behind the service's load balancer; 1 to MaxReplicas,
	// and 0 means 1.
	Replicas int
	// ServiceEnv adds variables to one service's environment ("K=V"), for
	// tools such as the benchmark that turn on pprof in one service. Every
	// replica of the service gets them.
	ServiceEnv map[string][]string
	// IngressTimeouts cut slow and idle connections to the ingress; unset
	// ones are ingress-nginx's defaults (see ingress.DefaultTimeouts).
	IngressTimeouts ingress.Timeouts
	Out             io.Writer
}

// ConfigFromEnv reads the stack's variables with their defaults.
func ConfigFromEnv(getenv func(string) string, root string, out io.Writer) (Config, error) {
	get := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	c := Config{
		Root:             root,
		DataDir:          get("DATA_DIR", filepath.Join(root, ".data")),
		IngressAddr:      get("INGRESS_ADDR", "127.0.0.1:8080"),
		NATSAddr:         get("NATS_ADDR", "127.0.0.1:4222"),
		MongoURL:         getenv("MONGO_URL"),
		JWTKey:           getenv("JWT_KEY"),
		StripeKey:        getenv("STRIPE_KEY"),
		ExpirationWindow: getenv("EXPIRATION_WINDOW"),
		Bus:              get("BUS", events.KindSTAN),
		Out:              out,
	}
	// Read as the services read it, so a bad level stops the stack at once
	// rather than every service at its start, over and over.
	env := service.NewEnv(getenv)
	c.LogLevel = env.LogLevel()
	if err := env.Err(); err != nil {
		return Config{}, err
	}
	c.Replicas = 1
	if v := getenv("REPLICAS"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return Config{}, fmt.Errorf("REPLICAS=%q must be an integer from 1 to %d", v, MaxReplicas)
		}
		if err := checkReplicas(n); err != nil {
			return Config{}, err
		}
		c.Replicas = n
	}
	c.NATSServers = 1
	if v := getenv("NATS_SERVERS"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return Config{}, fmt.Errorf("NATS_SERVERS=%q must be an integer from 1 to %d", v, MaxNATSServers)
		}
		c.NATSServers = n
	}
	if err := checkBus(c.Bus, c.NATSServers); err != nil {
		return Config{}, err
	}
	for name, addr := range map[string]string{"INGRESS_ADDR": c.IngressAddr, "NATS_ADDR": c.NATSAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return Config{}, fmt.Errorf("%s=%q is not host:port", name, addr)
		}
	}
	return c, nil
}
