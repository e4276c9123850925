package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testkit"
)

func TestRunRefusesToStartWithoutRequiredConfig(t *testing.T) {
	err := run(context.Background(), func(string) string { return "" }, io.Discard)
	require.Error(t, err)
	for _, name := range []string{"MONGO_URI", "JWT_KEY", "NATS_URL", "NATS_CLUSTER_ID", "NATS_CLIENT_ID"} {
		assert.Contains(t, err.Error(), "missing required environment variable "+name)
	}
	assert.Len(t, strings.Split(err.Error(), "\n"), 5, "one line per missing variable")
}

func TestRunServesUntilStoppedAndExitsWhenTheBusIsLost(t *testing.T) {
	s := testkit.NewSTAN(t)
	port := testkit.FreePort(t)
	vars := map[string]string{
		"HOST": "127.0.0.1", "PORT": strconv.Itoa(port), "MONGO_URI": kit.Mongo(t).URI, "JWT_KEY": jwtKey,
		"NATS_URL": s.URL, "NATS_CLUSTER_ID": testkit.ClusterID, "NATS_CLIENT_ID": "tickets-run-test",
	}
	done := make(chan error, 1)
	go func() { done <- run(context.Background(), func(k string) string { return vars[k] }, io.Discard) }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 20*time.Second, 50*time.Millisecond)
	r := do(t, "POST", base+"/api/tickets", `{"title":"concert","price":10}`, user(t, "u1"))
	assert.Equal(t, 201, r.Status, r.Raw)

	s.Shutdown() // the bus goes away for good
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "bus connection lost")
	case <-time.After(60 * time.Second):
		t.Fatal("run kept going without its bus")
	}
}

func TestRunStopsGracefullyOnCancel(t *testing.T) {
	s := testkit.NewSTAN(t)
	port := testkit.FreePort(t)
	vars := map[string]string{
		"HOST": "127.0.0.1", "PORT": strconv.Itoa(port), "MONGO_URI": kit.Mongo(t).URI, "JWT_KEY": jwtKey,
		"NATS_URL": s.URL, "NATS_CLUSTER_ID": testkit.ClusterID, "NATS_CLIENT_ID": "tickets-run-test",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return vars[k] }, io.Discard) }()
	require.Eventually(t, func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}, 20*time.Second, 50*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
}
