package ingress_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/infra/ingress"
)

func TestIngressPassesTheCallersRequestIDOrMakesOne(t *testing.T) {
	t.Parallel()
	table, err := ingress.Load(manifest)
	require.NoError(t, err)
	// The backend echoes the id it got, as the services do.
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-ID", r.Header.Get("X-Request-ID"))
	}))
	defer auth.Close()
	front := httptest.NewServer(ingress.Handler(table, func(b string) (string, bool) {
		if b == "auth-srv:3000" {
			return strings.TrimPrefix(auth.URL, "http://"), true
		}
		return "", false
	}, slog.New(slog.DiscardHandler)))
	defer front.Close()

	get := func(path, id string) (int, []string) {
		req, _ := http.NewRequest("GET", front.URL+path, nil)
		if id != "" {
			req.Header.Set("X-Request-ID", id)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Values("X-Request-ID")
	}

	_, ids := get("/api/users/currentuser", "caller-1")
	assert.Equal(t, []string{"caller-1"}, ids, "the caller's id, once")

	_, ids = get("/api/users/currentuser", "")
	require.Len(t, ids, 1)
	assert.NotEmpty(t, ids[0], "a new id when the caller sent none")

	code, ids := get("/api/tickets", "caller-2")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, []string{"caller-2"}, ids, "the ingress's own answers carry it too")
}
