package testkit

import (
	"net/http"
	"testing"
	"time"

	"ticketing.dev/common/events"
)

// Signout is what SignedOutCookieIsRefused needs of a service: its bus,
// its running processes and a way to start one more, and one request that
// shows whether the service honours a session.
type Signout struct {
	Bus    events.Bus // the test's own connection to the processes' bus
	JWTKey string
	// Processes are the URLs of the service's running processes (two or
	// more, on one database and bus); Start starts one more and returns
	// its URL.
	Processes []string
	Start     func(t *testing.T) string
	// The request (Path from a process's URL, Body JSON or empty) is
	// answered SignedIn with a live session, 401 with a signed-out one.
	Method, Path, Body string
	SignedIn           int
}

// SignedOutCookieIsRefused signs one user in twice, signs one of the two
// sessions out (the session:revoked event auth publishes), and checks that
// every running process refuses that session's cookie within 5 s while
// the user's other session goes on, and that a process started after the
// signout refuses it at once.
func SignedOutCookieIsRefused(t *testing.T, s Signout) {
	t.Helper()
	copied := SessionCookie(t, s.JWTKey, "buyer", "buyer@test.com")
	other := SessionCookie(t, s.JWTKey, "buyer", "buyer@test.com") // another session of the same user
	status := func(url string, cookie *http.Cookie) int {
		return Do(t, s.Method, url+s.Path, s.Body, cookie).Status
	}
	for _, url := range s.Processes {
		if got := status(url, copied); got != s.SignedIn {
			t.Fatalf("%s %s%s signed in: %d, want %d", s.Method, url, s.Path, got, s.SignedIn)
		}
	}

	RevokeSession(t, s.Bus, s.JWTKey, copied)
	for _, url := range s.Processes {
		deadline := time.Now().Add(5 * time.Second)
		for status(url, copied) != 401 {
			if time.Now().After(deadline) {
				t.Errorf("%s refuses the signed-out cookie: still not a 401 after 5s", url)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := status(url, other); got != s.SignedIn {
			t.Errorf("%s: the user's other session goes on: %d, want %d", url, got, s.SignedIn)
		}
	}

	restarted := s.Start(t)
	if got := status(restarted, copied); got != 401 {
		t.Errorf("a process started after the signout refuses it at once: %d, want 401", got)
	}
	if got := status(restarted, other); got != s.SignedIn {
		t.Errorf("a process started after the signout keeps the other session: %d, want %d", got, s.SignedIn)
	}
}
