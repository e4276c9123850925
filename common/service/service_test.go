package service_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/service"
	"ticketing.dev/common/testkit"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestEnvNamesEveryMissingVariableOnItsOwnLine(t *testing.T) {
	e := service.NewEnv(env(map[string]string{"JWT_KEY": "k"}))
	e.Required("MONGO_URI")
	assert.Equal(t, "k", e.Required("JWT_KEY"))
	e.Required("NATS_URL")
	err := e.Err()
	require.Error(t, err)
	assert.Equal(t, "missing required environment variable MONGO_URI\nmissing required environment variable NATS_URL", err.Error())
}

func TestEnvParsesTypedValuesAndRejectsBadOnes(t *testing.T) {
	e := service.NewEnv(env(map[string]string{"B": "false", "D": "30s", "P": "4000"}))
	assert.False(t, e.Bool("B", true))
	assert.True(t, e.Bool("UNSET", true))
	assert.Equal(t, 30*time.Second, e.Duration("D", time.Minute))
	assert.Equal(t, 15*time.Minute, e.Duration("UNSET", 15*time.Minute))
	assert.Equal(t, "4000", e.Port("P", "3000"))
	assert.Equal(t, "3000", e.Port("UNSET", "3000"))
	require.NoError(t, e.Err())

	bad := service.NewEnv(env(map[string]string{"B": "maybe", "D": "-1m", "P": "http"}))
	bad.Bool("B", true)
	bad.Duration("D", time.Minute)
	bad.Port("P", "3000")
	err := bad.Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `B="maybe"`)
	assert.Contains(t, err.Error(), `D="-1m"`)
	assert.Contains(t, err.Error(), `P="http"`)
}

func TestBusDefaultsToNATSStreamingWithItsClusterID(t *testing.T) {
	e := service.NewEnv(env(map[string]string{"NATS_URL": "nats://n:4222", "NATS_CLUSTER_ID": "ticketing", "NATS_CLIENT_ID": "c"}))
	n := e.NATS()
	require.NoError(t, e.Err())
	assert.Equal(t, events.BusConfig{Kind: events.KindSTAN, URL: "nats://n:4222", ClusterID: "ticketing", ClientID: "c"}, n.Config())

	e = service.NewEnv(env(map[string]string{"NATS_URL": "nats://n:4222", "NATS_CLIENT_ID": "c"}))
	e.NATS()
	assert.EqualError(t, e.Err(), "missing required environment variable NATS_CLUSTER_ID")
}

func TestJetStreamNeedsNoClusterIDAndReadsItsReplicas(t *testing.T) {
	e := service.NewEnv(env(map[string]string{"BUS": "jetstream", "NATS_URL": "nats://a:4222,nats://b:4222", "NATS_CLIENT_ID": "c"}))
	n := e.NATS()
	require.NoError(t, e.Err())
	assert.Equal(t, events.BusConfig{Kind: events.KindJetStream, URL: "nats://a:4222,nats://b:4222", ClientID: "c", Replicas: 1}, n.Config())

	e = service.NewEnv(env(map[string]string{"BUS": "jetstream", "NATS_URL": "nats://a:4222", "NATS_CLIENT_ID": "c", "JETSTREAM_REPLICAS": "3"}))
	assert.Equal(t, 3, e.NATS().Replicas)
	require.NoError(t, e.Err())
}

func TestABadBusOrReplicaCountIsOneClearLine(t *testing.T) {
	for name, vars := range map[string]map[string]string{
		`BUS="kafka"`:              {"BUS": "kafka"},
		`JETSTREAM_REPLICAS="0"`:   {"BUS": "jetstream", "JETSTREAM_REPLICAS": "0"},
		`JETSTREAM_REPLICAS="two"`: {"BUS": "jetstream", "JETSTREAM_REPLICAS": "two"},
	} {
		vars["NATS_URL"], vars["NATS_CLUSTER_ID"], vars["NATS_CLIENT_ID"] = "nats://n:4222", "ticketing", "c"
		e := service.NewEnv(env(vars))
		e.NATS()
		err := e.Err()
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), name)
		assert.NotContains(t, err.Error(), "\n", name)
	}
}

func TestLogLevelIsOneOfSlogsLevelsInAnyCase(t *testing.T) {
	for v, want := range map[string]string{"": "info", "debug": "debug", "WARN": "WARN", "error": "error"} {
		e := service.NewEnv(env(map[string]string{"LOG_LEVEL": v}))
		assert.Equal(t, want, e.LogLevel(), v)
		assert.NoError(t, e.Err(), v)
	}
	for _, v := range []string{"warning", "verbose", "0"} {
		e := service.NewEnv(env(map[string]string{"LOG_LEVEL": v}))
		e.LogLevel()
		require.Error(t, e.Err(), v)
		assert.Equal(t, fmt.Sprintf("environment variable LOG_LEVEL=%q is not one of debug, info, warn, error", v), e.Err().Error())
	}
}

func TestReadyzReportsFailingChecksWith503(t *testing.T) {
	ok := service.Check{Name: "db", Check: func(context.Context) error { return nil }}
	broken := service.Check{Name: "bus", Check: func(context.Context) error { return errors.New("down") }}

	srv := httpServer(t, service.Readyz(ok, broken))
	resp, err := http.Get(srv + "/")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 503, resp.StatusCode)
	assert.JSONEq(t, `{"status":"unavailable","failed":{"bus":"down"}}`, string(body))

	srv = httpServer(t, service.Readyz(ok))
	resp, err = http.Get(srv + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
}

// httpServer serves h through service.Serve until the test ends.
func httpServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := service.Listen("127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.Serve(ctx, service.NewLogger(io.Discard, "test", "info"), ln, h) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	return "http://" + ln.Addr().String()
}

func TestServeFinishesInFlightRequestsOnShutdown(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release // finishes when the test says, once the shutdown is under way
		_, _ = w.Write([]byte("finished"))
	})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	ln, err := service.Listen("127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- service.Serve(ctx, service.NewLogger(io.Discard, "test", "info"), ln, h) }()

	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			res <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{string(b), err}
	}()
	<-started
	cancel() // SIGTERM arrives mid-request
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 5*time.Second, 5*time.Millisecond, "the server never stopped taking connections")
	close(release)
	r := <-res
	require.NoError(t, r.err)
	assert.Equal(t, "finished", r.body)
	require.NoError(t, <-served)

	_, err = http.Get("http://" + ln.Addr().String())
	assert.Error(t, err, "no new connections after shutdown")
}

func TestListenNamesTheTakenAddress(t *testing.T) {
	ln, err := service.Listen("127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, err = service.Listen(ln.Addr().String())
	require.Error(t, err)
	assert.Contains(t, err.Error(), ln.Addr().String())
}

func TestConnectMongoTakesTheDatabaseFromTheURI(t *testing.T) {
	db, err := service.ConnectMongo("mongodb://127.0.0.1:1/auth", "fallback")
	require.NoError(t, err)
	assert.Equal(t, "auth", db.Name())
	db, err = service.ConnectMongo("mongodb://127.0.0.1:1", "fallback")
	require.NoError(t, err)
	assert.Equal(t, "fallback", db.Name())
	_, err = service.ConnectMongo("http://nope", "x")
	assert.Error(t, err)
}

func TestWithDatabaseReplacesThePathAndKeepsOptions(t *testing.T) {
	assert.Equal(t, "mongodb://h:1/auth", service.WithDatabase("mongodb://h:1/", "auth"))
	assert.Equal(t, "mongodb://h:1/auth", service.WithDatabase("mongodb://h:1", "auth"))
	assert.Equal(t, "mongodb://u:p@h:1,h2:2/auth?replicaSet=rs", service.WithDatabase("mongodb://u:p@h:1,h2:2/admin?replicaSet=rs", "auth"))
}

func TestListenAndServeServesPprofOnlyWhenAsked(t *testing.T) {
	pprofAddr := "127.0.0.1:" + freePort(t)
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- service.ListenAndServe(ctx, service.NewLogger(io.Discard, "test", "info"),
			service.HTTP{Host: "127.0.0.1", Port: port, PprofAddr: pprofAddr}, http.NotFoundHandler())
	}()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 5*time.Second, 20*time.Millisecond)
	resp, err := http.Get("http://127.0.0.1:" + port + "/debug/pprof/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 404, resp.StatusCode, "not on the service's own port")
	cancel()
	require.NoError(t, <-done)
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := service.Listen("127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, port, _ := strings.Cut(ln.Addr().String(), ":")
	return port
}

func TestNewRouterServesHealthAnd404Envelopes(t *testing.T) {
	down := service.Check{Name: "db", Check: func(context.Context) error { return errors.New("down") }}
	r := service.NewRouter(service.NewLogger(io.Discard, "test", "info"), []service.Check{down})
	r.Get("/api/thing", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("thing")) })
	base := httpServer(t, r)
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 503, "/api/thing": 200, "/api/thing/": 200, "/nope": 404} {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, path)
		if want == 404 {
			assert.JSONEq(t, `{"errors":[{"message":"Not Found"}]}`, string(body))
		}
	}
}

func TestBusCloseEndsItsContextAsAPlainStop(t *testing.T) {
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		s := newBus(t)
		n := service.NATS{Bus: s.Kind, URL: s.URL, ClusterID: testkit.ClusterID, ClientID: "bus-test"}
		bus, err := service.ConnectBus(context.Background(), n)
		require.NoError(t, err)
		require.NoError(t, bus.Context.Err(), "alive while connected")
		require.NoError(t, bus.Close())
		assert.Error(t, bus.Context.Err())
		assert.NoError(t, service.ExitError(bus.Context, nil), "closing is no reason to exit non-zero")

		if s.Kind == events.KindSTAN {
			n.ClusterID = "nope"
		} else {
			n.URL = "nats://127.0.0.1:1"
		}
		_, err = service.ConnectBus(context.Background(), n)
		assert.Error(t, err)
	})
}
