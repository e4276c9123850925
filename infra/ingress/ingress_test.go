package ingress_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/infra/ingress"
)

const manifest = "../k8s/ingress-srv.yaml"

func TestManifestRoutesEachPathToItsService(t *testing.T) {
	t.Parallel()
	table, err := ingress.Load(manifest)
	require.NoError(t, err)
	cases := map[string]string{
		"/api/users/signup":        "auth-srv:3000",
		"/api/users/currentuser":   "auth-srv:3000",
		"/api/users":               "auth-srv:3000",
		"/api/tickets":             "tickets-srv:3000",
		"/api/tickets/abc":         "tickets-srv:3000",
		"/api/orders/123":          "orders-srv:3000",
		"/api/payments":            "payments-srv:3000",
		"/":                        "client-srv:3000",
		"/tickets/new":             "client-srv:3000",
		"/auth/signin":             "client-srv:3000",
		"/API/USERS/currentuser":   "auth-srv:3000", // nginx ~* is case-insensitive
		"/apiusers":                "client-srv:3000",
		"/api/ticketsfoo":          "tickets-srv:3000", // "/?" makes the slash optional, as in nginx
		"/static/api/users/signup": "client-srv:3000",  // anchored at the start
	}
	for path, want := range cases {
		r, ok := table.Match(path)
		require.True(t, ok, path)
		assert.Equal(t, want, r.Backend(), path)
	}
}

func TestLongestPathWins(t *testing.T) {
	t.Parallel()
	table, err := ingress.Parse([]byte(`
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: x}
spec:
  rules:
    - http:
        paths:
          - {path: "/?(.*)", pathType: ImplementationSpecific, backend: {service: {name: short, port: {number: 1}}}}
          - {path: "/api/?(.*)", pathType: ImplementationSpecific, backend: {service: {name: mid, port: {number: 1}}}}
          - {path: "/api/long/?(.*)", pathType: ImplementationSpecific, backend: {service: {name: long, port: {number: 1}}}}
`))
	require.NoError(t, err)
	for path, want := range map[string]string{"/api/long/x": "long", "/api/x": "mid", "/x": "short"} {
		r, _ := table.Match(path)
		assert.Equal(t, want, r.Service, path)
	}
}

func TestManifestWithUnknownFieldIsRejected(t *testing.T) {
	t.Parallel()
	_, err := ingress.Parse([]byte(`
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: x}
spec:
  rules:
    - http:
        paths:
          - {path: "/", pathTyp: Prefix, backend: {service: {name: a, port: {number: 1}}}}
`))
	assert.ErrorContains(t, err, "pathTyp")
}

// echo answers with what it received, naming itself.
func echo(name string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s host=%s xff=%s proto=%s xhost=%s", name, r.URL.RequestURI(), r.Host,
			r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host"))
	}))
}

func TestHandlerProxiesToTheResolvedBackendWithForwardedHeaders(t *testing.T) {
	t.Parallel()
	table, err := ingress.Load(manifest)
	require.NoError(t, err)
	auth, client := echo("auth"), echo("client")
	defer auth.Close()
	defer client.Close()
	addrs := map[string]string{
		"auth-srv:3000":   strings.TrimPrefix(auth.URL, "http://"),
		"client-srv:3000": strings.TrimPrefix(client.URL, "http://"),
	}
	front := httptest.NewServer(ingress.Handler(table, func(b string) (string, bool) {
		a, ok := addrs[b]
		return a, ok
	}, slog.New(slog.DiscardHandler)))
	defer front.Close()

	get := func(path, host string) (int, string) {
		req, _ := http.NewRequest("GET", front.URL+path, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	code, body := get("/api/users/currentuser?x=1", "ticketing.dev")
	assert.Equal(t, 200, code)
	assert.Equal(t, "auth /api/users/currentuser?x=1 host=ticketing.dev xff=127.0.0.1 proto=http xhost=ticketing.dev", body)

	code, body = get("/orders/1", "some.other.host")
	assert.Equal(t, 200, code)
	assert.True(t, strings.HasPrefix(body, "client /orders/1 host=some.other.host"), "unknown host still routed: %s", body)

	code, _ = get("/api/tickets", "ticketing.dev")
	assert.Equal(t, http.StatusServiceUnavailable, code, "a service that does not run locally")

	auth.Close()
	code, _ = get("/api/users/currentuser", "ticketing.dev")
	assert.Equal(t, http.StatusBadGateway, code)
}
