package main

import (
	"context"
	"fmt"
	"net"
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
	var out strings.Builder
	err := run(context.Background(), func(string) string { return "" }, &out)
	require.Error(t, err)
	assert.Equal(t, "missing required environment variable MONGO_URI\nmissing required environment variable JWT_KEY\n"+
		"missing required environment variable NATS_URL\nmissing required environment variable NATS_CLUSTER_ID\nmissing required environment variable NATS_CLIENT_ID", err.Error())
}

func TestRunNamesABadSigninThrottleSetting(t *testing.T) {
	for _, v := range []string{"-1", "ten", "1.5"} {
		err := run(context.Background(), func(k string) string {
			return map[string]string{"SIGNIN_MAX_FAILURES": v}[k]
		}, &strings.Builder{})
		require.Error(t, err, v)
		assert.Contains(t, err.Error(), fmt.Sprintf("SIGNIN_MAX_FAILURES=%q is not a whole number of at least 0", v))
	}
}

// startRun runs the service as main would, returning its base URL.
func startRun(t *testing.T, mongoURI string) string {
	t.Helper()
	port := testkit.FreePort(t)
	env := map[string]string{
		"HOST": "127.0.0.1", "PORT": strconv.Itoa(port), "MONGO_URI": mongoURI,
		"JWT_KEY": jwtKey, "COOKIE_SECURE": "false",
		"NATS_URL": testkit.NewSTAN(t).URL, "NATS_CLUSTER_ID": testkit.ClusterID, "NATS_CLIENT_ID": "auth-run-test",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, &testkit.SyncBuffer{}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "graceful shutdown")
		case <-time.After(30 * time.Second):
			t.Error("run did not return after cancel")
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	require.Eventually(t, func() bool { return status(base+"/healthz") == 200 }, 20*time.Second, 50*time.Millisecond)
	return base
}

func status(url string) int {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRunServesTheAPIAndStopsGracefully(t *testing.T) {
	base := startRun(t, kit.Mongo(t).URI)
	assert.Equal(t, 200, status(base+"/readyz"))
	r := do(t, "POST", base+"/api/users/signup", creds)
	require.Equal(t, 201, r.Status, r.Raw)
	assert.False(t, sessionCookie(t, r).Secure, "COOKIE_SECURE=false for plain-HTTP runs")
}

func TestReadyzFailsWhileTheDatabaseIsUnreachable(t *testing.T) {
	db := kit.Mongo(t)
	server := strings.TrimPrefix(kit.MongoServerURI(t), "mongodb://")
	server, _, _ = strings.Cut(server, "/")
	proxy := testkit.NewProxy(t, server)
	_, port, _ := net.SplitHostPort(proxy.Addr)
	base := startRun(t, fmt.Sprintf("mongodb://127.0.0.1:%s/%s", port, db.Name()))

	assert.Equal(t, 200, status(base+"/readyz"))
	proxy.SetDown(true)
	assert.Equal(t, 503, status(base+"/readyz"))
	assert.Equal(t, 200, status(base+"/healthz"), "alive even when not ready")
	proxy.SetDown(false)
	assert.Eventually(t, func() bool { return status(base+"/readyz") == 200 }, 15*time.Second, 100*time.Millisecond)
}
