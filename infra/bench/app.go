package bench

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
)

// client talks to the app through the ingress, one session cookie per user.
type client struct {
	base string
	http *http.Client
}

func newClient(base string, conns int) *client {
	return &client{base: base, http: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        conns * 2,
			MaxIdleConnsPerHost: conns * 2,
			IdleConnTimeout:     time.Minute,
		},
	}}
}

// statusError is an answer other than the one expected.
type statusError struct {
	method, path string
	status       int
	body         string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.method, e.path, e.status, strings.TrimSpace(e.body))
}

// call sends body (if any) as JSON with the cookie and decodes the answer
// into out when the status is want.
func (c *client) call(ctx context.Context, method, path, cookie string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Host = "ticketing.dev"
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return &statusError{method, path, resp.StatusCode, string(raw)}
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// signup creates a user and returns its session cookie ("session=…").
func (c *client) signup(ctx context.Context, email string) (string, error) {
	return c.session(ctx, "/api/users/signup", email, http.StatusCreated)
}

// signin signs an existing user in and returns its session cookie.
func (c *client) signin(ctx context.Context, email string) (string, error) {
	return c.session(ctx, "/api/users/signin", email, http.StatusOK)
}

// session posts the bench's credentials for email to path and returns the
// session cookie the answer sets.
func (c *client) session(ctx context.Context, path, email string, want int) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path,
		strings.NewReader(fmt.Sprintf(`{"email":%q,"password":"password1"}`, email)))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return "", &statusError{http.MethodPost, path, resp.StatusCode, string(body)}
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "session" {
			return "session=" + ck.Value, nil
		}
	}
	return "", fmt.Errorf("%s set no session cookie", path)
}

type idBody struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	OrderID string `json:"orderId"`
}

// until retries f while it fails with a 404 (a replica not there yet), up
// to timeout, starting every interval and backing off to 50 ms so that the
// waiting itself does not load the app; the scenarios time the call that
// succeeded, not the wait.
func until(ctx context.Context, timeout, interval time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		var se *statusError
		if err == nil || !errors.As(err, &se) || se.status != http.StatusNotFound || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
		interval = min(2*interval, 50*time.Millisecond)
	}
}

// poll calls f every interval until it reports done, up to timeout.
func poll(ctx context.Context, timeout, interval time.Duration, f func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, err := f()
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done within %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
