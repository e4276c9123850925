// Package stack runs the whole app on one machine without Kubernetes
// (docs/CONTRACT.md §5): embedded FerretDB and NATS Streaming, redis-server,
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
	for name, addr := range map[string]string{"INGRESS_ADDR": c.IngressAddr, "NATS_ADDR": c.NATSAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return Config{}, fmt.Errorf("%s=%q is not host:port", name, addr)
		}
	}
	return c, nil
}
