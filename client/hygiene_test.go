package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// zeros is an endless body that costs no memory to send.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// multipartUpload is a form with one file part of size bytes.
func multipartUpload(size int64) (contentType string, body io.Reader, length int64) {
	head := "--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n" +
		"Content-Type: application/octet-stream\r\n\r\n"
	tail := "\r\n--xyz--\r\n"
	body = io.MultiReader(strings.NewReader(head), io.LimitReader(zeros{}, size), strings.NewReader(tail))
	return "multipart/form-data; boundary=xyz", body, int64(len(head)) + size + int64(len(tail))
}

// postRaw streams body to the site over a raw connection (so nothing on
// the sending side buffers it) and returns the status the client answers
// with, read while the body is still being sent.
func postRaw(t *testing.T, s site, path, contentType string, body io.Reader, size int64, cookies ...*http.Cookie) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	var head bytes.Buffer
	fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n", path, contentType, size)
	for _, c := range cookies {
		fmt.Fprintf(&head, "Cookie: %s\r\n", c.String())
	}
	head.WriteString("\r\n")
	go func() {
		if _, err := conn.Write(head.Bytes()); err == nil {
			_, _ = io.Copy(conn, body) // fails once the client hangs up
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// The probe's disk fill: a multipart POST to any path left its upload in
// the temporary directory for good, and the client's memory grew with it.
func TestMultipartPostOf50MBLeavesNothingInTheTempDirAndMemoryFlat(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where mime/multipart would spool the upload
	s := newSite(t)
	secret, token := s.csrfPair(t)

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, path := range []string{"/auth/signin", "/tickets/new", "/no/such/page", "/static/app.css"} {
		ct, body, size := multipartUpload(50 << 20)
		assert.Equal(t, http.StatusUnsupportedMediaType, postRaw(t, s, path+"?csrf_token="+token, ct, body, size, secret), path)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)

	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "uploads left in the temp dir")
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8<<20), "bytes allocated while 4 × 50 MB were posted")
	assert.Less(t, after.HeapInuse, before.HeapInuse+8<<20, "heap after the posts")
}

// csrfPair visits a form page and returns the browser's secret cookie and
// the page's token.
func (s site) csrfPair(t *testing.T) (*http.Cookie, string) {
	t.Helper()
	token := csrfFrom(t, s.get(t, "/auth/signin").Body)
	u, _ := url.Parse(s.URL)
	for _, c := range s.c.Jar.Cookies(u) {
		if c.Name == csrfCookie {
			return c, token
		}
	}
	t.Fatal("no CSRF cookie")
	return nil, ""
}

func TestFormPostsThatAreNotURLEncodedAre415BeforeTheBodyIsRead(t *testing.T) {
	s := newSite(t)
	s.api.json("POST /api/users/signin", 200, `{"id":"u1","email":"a@b.co"}`)
	token := csrfFrom(t, s.get(t, "/auth/signin").Body)
	for ct, body := range map[string]string{
		"multipart/form-data; boundary=b": "--b\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n" + token + "\r\n--b--\r\n",
		"application/json":                `{"csrf_token":"` + token + `","email":"a@b.co"}`,
		"text/plain":                      "csrf_token=" + token,
		"":                                "csrf_token=" + token,
	} {
		req, _ := http.NewRequest("POST", s.URL+"/auth/signin", strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := s.c.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode, ct)
	}
	_, called := s.api.last("POST", "/api/users/signin")
	assert.False(t, called, "refused posts never reach the API")
	assert.Equal(t, http.StatusSeeOther, s.postWithToken(t, "/auth/signin", "/auth/signin",
		url.Values{"email": {"a@b.co"}, "password": {"password1"}}).Status, "a url-encoded form still works")
}

func TestFormBodiesOver64KiBAre413(t *testing.T) {
	s := newSite(t)
	p := s.postWithToken(t, "/auth/signin", "/auth/signin", url.Values{"email": {strings.Repeat("a", 64<<10)}})
	assert.Equal(t, http.StatusRequestEntityTooLarge, p.Status)
	_, called := s.api.last("POST", "/api/users/signin")
	assert.False(t, called)
}

func TestCSRFTokenFromAnotherSessionIsRefused(t *testing.T) {
	s := newSite(t)
	s.api.json("POST /api/users/signout", 200, `{}`)
	u, _ := url.Parse(s.URL)
	signIn := func(value string) {
		s.c.Jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: value, Path: "/"}})
	}
	signIn("c2Vzc2lvbi1h") // session A's page
	tokenA := csrfFrom(t, s.get(t, "/auth/signout").Body)
	signIn("c2Vzc2lvbi1i") // the same browser, now session B
	tokenB := csrfFrom(t, s.get(t, "/auth/signout").Body)
	assert.NotEqual(t, tokenA, tokenB, "the token names the session")

	p := s.post(t, "/auth/signout", url.Values{"csrf_token": {tokenA}})
	assert.Equal(t, http.StatusForbidden, p.Status, "session A's token in session B")
	other := newSite(t) // another browser, with a secret of its own
	other.api = s.api
	otherToken := csrfFrom(t, other.get(t, "/auth/signin").Body)
	assert.Equal(t, http.StatusForbidden, s.post(t, "/auth/signout", url.Values{"csrf_token": {otherToken}}).Status, "another browser's token")
	_, called := s.api.last("POST", "/api/users/signout")
	assert.False(t, called)

	assert.Equal(t, http.StatusSeeOther, s.post(t, "/auth/signout", url.Values{"csrf_token": {tokenB}}).Status)
}

func TestGETSignoutDoesNotSignOutAndPOSTDoes(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("POST /api/users/signout", 200, `{}`)
	p := s.get(t, "/auth/signout")
	assert.Equal(t, 200, p.Status)
	assert.Regexp(t, `<form method="post" action="/auth/signout"`, p.Body)
	assert.Contains(t, p.Body, `<button id="signout" type="submit"`)
	_, called := s.api.last("POST", "/api/users/signout")
	assert.False(t, called, "a GET (a link, an image on another site) signs nobody out")

	p = s.post(t, "/auth/signout", url.Values{"csrf_token": {csrfFrom(t, p.Body)}})
	assert.Equal(t, http.StatusSeeOther, p.Status)
	_, called = s.api.last("POST", "/api/users/signout")
	assert.True(t, called)
}

func TestAPIPathsThatReachTheClientAreJSON404s(t *testing.T) {
	s := newSite(t)
	for _, c := range []struct{ method, path, ct string }{
		{"GET", "/api/x", ""}, {"GET", "/api", ""}, {"GET", "/API/Nope/1", ""},
		{"POST", "/api/x", "application/json"}, {"POST", "/api/x", "multipart/form-data; boundary=b"}, {"DELETE", "/api/users/x", ""},
	} {
		req, _ := http.NewRequest(c.method, s.URL+c.path, strings.NewReader(`{}`))
		if c.ct != "" {
			req.Header.Set("Content-Type", c.ct)
		}
		resp, err := s.c.Do(req)
		require.NoError(t, err)
		p := read(t, resp)
		assert.Equal(t, 404, p.Status, c)
		assert.Equal(t, "application/json; charset=utf-8", p.Header.Get("Content-Type"), c)
		assert.JSONEq(t, `{"errors":[{"message":"Not Found"}]}`, p.Body, c)
	}
}

// paramRe matches a chi route parameter.
var paramRe = regexp.MustCompile(`\{[^}]*\}`)

func TestHeadAnswersEveryPage(t *testing.T) {
	for _, signedIn := range []bool{false, true} {
		s := newSite(t)
		if signedIn {
			s.api.signedInAs("a@b.co")
		}
		s.api.json("GET /api/tickets", 200, `[]`)
		s.api.json("GET /api/orders", 200, `[]`)
		s.api.json("GET /api/tickets/0123456789abcdef01234567", 200, `{"id":"0123456789abcdef01234567","title":"t","price":1,"userId":"u1"}`)
		s.api.json("GET /api/orders/0123456789abcdef01234567", 200, `{"id":"0123456789abcdef01234567","status":"created","ticket":{"title":"t","price":1}}`)
		log := slog.New(slog.DiscardHandler)
		f, err := newFrontend(config{AuthURL: s.api.URL, TicketsURL: s.api.URL, OrdersURL: s.api.URL, PaymentsURL: s.api.URL}, log)
		require.NoError(t, err)
		r := routes(f, log, false)
		var paths []string
		require.NoError(t, chi.Walk(r.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
			if method == http.MethodGet {
				paths = append(paths, strings.Replace(paramRe.ReplaceAllString(route, "0123456789abcdef01234567"), "*", "app.css", 1))
			}
			return nil
		}))
		require.Len(t, paths, 16)
		for _, path := range paths {
			if path == "/live" {
				continue // a stream, never done: TestLiveAnswersHEADWithoutStreaming
			}
			get, head := httptest.NewRecorder(), httptest.NewRecorder()
			r.ServeHTTP(get, httptest.NewRequest("GET", path, nil))
			r.ServeHTTP(head, httptest.NewRequest("HEAD", path, nil))
			assert.Equal(t, get.Code, head.Code, "HEAD %s (signed in: %v)", path, signedIn)
			assert.NotEqual(t, 404, head.Code, "HEAD %s", path)
			assert.Equal(t, get.Header().Get("Content-Type"), head.Header().Get("Content-Type"), path)
		}
	}
}

func TestPagesAreNosniffAndNoStoreWithASessionCookie(t *testing.T) {
	s := newSite(t)
	s.api.json("GET /api/tickets", 200, `[]`)
	r := routes(mustFrontend(t, s), slog.New(slog.DiscardHandler), false)
	get := func(path string, cookies ...*http.Cookie) http.Header {
		req := httptest.NewRequest("GET", path, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec.Header()
	}
	for _, path := range []string{"/", "/auth/signin", "/no/such/page", "/healthz", "/api/x"} {
		assert.Equal(t, "nosniff", get(path).Get("X-Content-Type-Options"), path)
	}
	for _, path := range []string{"/", "/auth/signin", "/no/such/page"} {
		assert.Empty(t, get(path).Get("Cache-Control"), "%s: a visitor's page may be cached", path)
		assert.Equal(t, "no-store", get(path, &http.Cookie{Name: "session", Value: "x"}).Get("Cache-Control"), path)
	}
	static := get("/static/app.css", &http.Cookie{Name: "session", Value: "x"})
	assert.Equal(t, "nosniff", static.Get("X-Content-Type-Options"))
	assert.Empty(t, static.Get("Cache-Control"), "static files are the same for everyone")
}

// mustFrontend is the frontend newSite serves, against its fake API.
func mustFrontend(t *testing.T, s site) *frontend {
	t.Helper()
	f, err := newFrontend(config{AuthURL: s.api.URL, TicketsURL: s.api.URL, OrdersURL: s.api.URL, PaymentsURL: s.api.URL}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	return f
}

func TestMalformedEscapesAre400(t *testing.T) {
	s := newSite(t)
	for _, path := range []string{"/static/%c0%ae%c0%ae/", "/static/%c0%ae%c0%ae/etc/passwd", "/tickets/%ff"} {
		assert.Equal(t, 400, s.get(t, path).Status, path)
	}
}

func TestBrowserThatGoesAwayIsNotAnErrorInTheLog(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	f, err := newFrontend(config{}, log)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest("GET", "/orders", nil).WithContext(ctx)
	f.fail(httptest.NewRecorder(), r, nil, &unavailableError{Backend: "orders", Status: 502, Err: context.Canceled})
	f.fail(httptest.NewRecorder(), r, nil, fmt.Errorf("rendering: %w", context.Canceled))
	assert.NotContains(t, logs.String(), "ERROR")
	assert.NotContains(t, logs.String(), "WARN")
}
