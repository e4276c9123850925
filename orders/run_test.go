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
	assert.Equal(t, 5, len(strings.Split(err.Error(), "\n")), err.Error())
	for _, name := range []string{"MONGO_URI", "JWT_KEY", "NATS_URL", "NATS_CLUSTER_ID", "NATS_CLIENT_ID"} {
		assert.Contains(t, err.Error(), "missing required environment variable "+name)
	}
}

func TestRunRejectsABadExpirationWindow(t *testing.T) {
	err := run(context.Background(), func(k string) string {
		if k == "EXPIRATION_WINDOW" {
			return "soon"
		}
		return "x"
	}, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `EXPIRATION_WINDOW="soon"`)
}

func TestRunServesWithTheConfiguredWindowAndStopsGracefully(t *testing.T) {
	s := testkit.NewSTAN(t)
	port := testkit.FreePort(t)
	vars := map[string]string{
		"HOST": "127.0.0.1", "PORT": strconv.Itoa(port), "MONGO_URI": kit.Mongo(t).URI, "JWT_KEY": jwtKey,
		"NATS_URL": s.URL, "NATS_CLUSTER_ID": testkit.ClusterID, "NATS_CLIENT_ID": "orders-run-test",
		"EXPIRATION_WINDOW": "90s",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return vars[k] }, io.Discard) }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 20*time.Second, 50*time.Millisecond)

	pub := s.Connect(t)
	tid := "5f0000000000000000000001"
	testkit.Publish(t, pub, eventTicketCreated(tid))
	var r response
	require.Eventually(t, func() bool {
		r = do(t, "POST", base+"/api/orders", `{"ticketId":"`+tid+`"}`, user(t, "buyer"))
		return r.Status == 201
	}, 5*time.Second, 50*time.Millisecond)
	exp, err := time.Parse(time.RFC3339, r.Body["expiresAt"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(90*time.Second), exp, 5*time.Second)

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
}
