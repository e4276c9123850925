package testkit

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Response is an HTTP answer as a test reads it: Body holds a JSON object,
// List a JSON array.
type Response struct {
	Status  int
	Body    map[string]any
	List    []map[string]any
	Raw     string
	Cookies []*http.Cookie
	Header  http.Header
}

// Do sends a request with a JSON body (if any) and the cookies, and reads
// the answer, failing the test if the request cannot be made.
func Do(t testing.TB, method, url, body string, cookies ...*http.Cookie) Response {
	t.Helper()
	return DoWith(t, nil, method, url, body, cookies...)
}

// DoWith is Do with extra request headers (an Idempotency-Key, say).
func DoWith(t testing.TB, header http.Header, method, url, body string, cookies ...*http.Cookie) Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := Response{Status: resp.StatusCode, Raw: string(raw), Cookies: resp.Cookies(), Header: resp.Header}
	if strings.HasPrefix(r.Raw, "[") {
		if err := json.Unmarshal(raw, &r.List); err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
	} else {
		_ = json.Unmarshal(raw, &r.Body)
	}
	return r
}

// Keys are a JSON object's keys, for checking a payload's exact shape.
func Keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
