package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"ticketing.dev/common/httpapi"
)

// apiError is an API's 4xx answer, with the messages of its envelope.
// Fields holds the messages that name a field (validation errors), so a
// form can show each beside its control.
type apiError struct {
	Status   int
	Messages []string
	Fields   map[string]string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d: %s", e.Status, strings.Join(e.Messages, "; "))
}

// unavailableError is a backend that did not answer usefully: down (502)
// or too slow (503).
type unavailableError struct {
	Backend string
	Status  int
	Err     error
}

func (e *unavailableError) Error() string {
	return fmt.Sprintf("%s unavailable: %v", e.Backend, e.Err)
}

func (e *unavailableError) Unwrap() error { return e.Err }

// backend is a thin JSON client for one API, calling it on behalf of the
// browser: it forwards the browser's session cookie and hands back the
// API's Set-Cookie headers for the page to relay.
type backend struct {
	name   string
	base   string
	client *http.Client
}

func newBackend(name, base string, timeout time.Duration) backend {
	return backend{name: name, base: strings.TrimRight(base, "/"), client: &http.Client{
		Timeout: timeout,
		// The APIs answer; they never redirect. Never follow one elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// maxAPIBody bounds what is read from an API.
const maxAPIBody = 4 << 20

// call sends in (if any) as JSON and decodes a 2xx body into out (if any).
func (b backend) call(r *http.Request, method, path string, in, out any) (http.Header, error) {
	var body io.Reader
	if in != nil {
		buf, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(r.Context(), method, b.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c, err := r.Cookie("session"); err == nil {
		req.AddCookie(c)
	}
	// The page's request id goes on, so the API's log lines join the
	// client's under one id.
	if id := httpapi.RequestID(r.Context()); id != "" {
		req.Header.Set(httpapi.RequestIDHeader, id)
	}
	if method == http.MethodPost && r.Method == http.MethodPost {
		if key := r.PostFormValue(formKeyField); key != "" && len(key) <= 64 {
			req.Header.Set("Idempotency-Key", key)
		}
	}
	resp, err := b.client.Do(req)
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			status = http.StatusServiceUnavailable
		}
		return nil, &unavailableError{Backend: b.name, Status: status, Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIBody))
	if err != nil {
		return nil, &unavailableError{Backend: b.name, Status: http.StatusBadGateway, Err: err}
	}
	switch {
	case resp.StatusCode >= 500:
		return nil, &unavailableError{Backend: b.name, Status: http.StatusBadGateway, Err: fmt.Errorf("answered %d", resp.StatusCode)}
	case resp.StatusCode >= 400:
		return resp.Header, decodeAPIError(resp.StatusCode, raw)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, &unavailableError{Backend: b.name, Status: http.StatusBadGateway, Err: fmt.Errorf("unexpected answer: %w", err)}
		}
	}
	return resp.Header, nil
}

func decodeAPIError(status int, raw []byte) *apiError {
	var env struct {
		Errors []struct {
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"errors"`
	}
	e := &apiError{Status: status}
	if json.Unmarshal(raw, &env) == nil {
		for _, d := range env.Errors {
			e.Messages = append(e.Messages, d.Message)
			if d.Field != "" && d.Message != "" {
				if e.Fields == nil {
					e.Fields = map[string]string{}
				}
				if _, seen := e.Fields[d.Field]; !seen {
					e.Fields[d.Field] = d.Message
				}
			}
		}
	}
	if len(e.Messages) == 0 {
		e.Messages = []string{http.StatusText(status)}
	}
	return e
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// relayCookies copies the API's Set-Cookie headers to the browser.
func relayCookies(w http.ResponseWriter, h http.Header) {
	for _, c := range h.Values("Set-Cookie") {
		w.Header().Add("Set-Cookie", c)
	}
}

// isNotAuthorized is an API's 401: no session, or not the owner.
func isNotAuthorized(err error) bool {
	var api *apiError
	return errors.As(err, &api) && api.Status == http.StatusUnauthorized
}

// badRequest is an API's 400 (a value it refused), or nil.
func badRequest(err error) *apiError {
	var api *apiError
	if errors.As(err, &api) && api.Status == http.StatusBadRequest {
		return api
	}
	return nil
}
