package service_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testkit"
)

// hygieneRouter is an API as the services build theirs.
func hygieneRouter() *chi.Mux {
	sessions := session.NewManager("key", true)
	r := service.NewRouter(service.NewLogger(io.Discard, "test", "info"), nil, sessions.Middleware)
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"ok":true}`)) }
	r.Get("/api/things", ok)
	r.Get("/api/things/{id}", ok)
	r.With(session.RequireAuth).Get("/api/mine", ok)
	r.Group(func(r chi.Router) { r.Get("/api/grouped", ok) })
	return r
}

func TestHeadAnswersEveryGetRoute(t *testing.T) {
	r := hygieneRouter()
	assert.Len(t, testkit.GetRoutes(t, r), 6, "/healthz, /readyz and the four above")
	testkit.HeadAnswersEveryGet(t, r)
	testkit.HeadAnswersEveryGet(t, r, testkit.SessionCookie(t, "key", "0123456789abcdef01234567", "a@b.c"))

	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/api/things", nil))
	assert.Equal(t, 200, rec.Code)
}

func TestMalformedEscapesAre400NotA500(t *testing.T) {
	base := httpServer(t, hygieneRouter())
	for _, path := range []string{"/static/%c0%ae%c0%ae/", "/api/things/%ff", "/api/%c0%af"} {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, 400, resp.StatusCode, path)
		assert.JSONEq(t, `{"errors":[{"message":"Malformed URL path"}]}`, string(body), path)
	}
}

func TestAPIAnswersAreNosniffAndNoStoreWhenSignedIn(t *testing.T) {
	r := hygieneRouter()
	get := func(path string, cookies ...*http.Cookie) http.Header {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec.Header()
	}
	assert.Equal(t, "nosniff", get("/healthz").Get("X-Content-Type-Options"))
	for _, path := range []string{"/api/things", "/api/mine", "/nope"} {
		assert.Equal(t, "nosniff", get(path).Get("X-Content-Type-Options"), path)
		assert.Empty(t, get(path).Get("Cache-Control"), "%s: anonymous answers may be cached", path)
	}
	user := testkit.SessionCookie(t, "key", "0123456789abcdef01234567", "a@b.c")
	for _, path := range []string{"/api/things", "/api/mine", "/nope"} {
		h := get(path, user)
		assert.Equal(t, "no-store", h.Get("Cache-Control"), path)
		assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"), path)
	}
	forged := &http.Cookie{Name: "session", Value: "eyJqd3QiOiJ4In0="}
	assert.Empty(t, get("/api/things", forged).Get("Cache-Control"), "an invalid session is no session")
}

func TestHSTSOnlyWhenCookieSecure(t *testing.T) {
	e := service.NewEnv(env(map[string]string{"COOKIE_SECURE": "maybe"}))
	assert.True(t, e.HTTP().HSTS, "anything but false keeps HSTS on")
	assert.NoError(t, e.Err(), "a bad COOKIE_SECURE is the service's own COOKIE_SECURE to report, once")

	for secure, want := range map[string]string{"": "max-age=31536000; includeSubDomains", "true": "max-age=31536000; includeSubDomains", "false": ""} {
		port := freePort(t)
		cfg := service.NewEnv(env(map[string]string{"COOKIE_SECURE": secure, "HOST": "127.0.0.1", "PORT": port})).HTTP()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- service.ListenAndServe(ctx, service.NewLogger(io.Discard, "test", "info"), cfg, hygieneRouter())
		}()
		var resp *http.Response
		require.Eventually(t, func() bool {
			var err error
			resp, err = http.Get("http://127.0.0.1:" + port + "/healthz")
			return err == nil
		}, 5*time.Second, 10*time.Millisecond)
		resp.Body.Close()
		assert.Equal(t, want, resp.Header.Get("Strict-Transport-Security"), "COOKIE_SECURE=%q", secure)
		cancel()
		require.NoError(t, <-done)
	}
}
