package main

import (
	"testing"

	"ticketing.dev/common/testkit"
)

func TestSignedOutCookieIsRefusedByBothProcessesWithin5sAndAfterARestart(t *testing.T) {
	e := newEnv(t)
	start := func(t *testing.T) string { url, _ := e.process(t); return url }
	second := start(t)
	// Signed in, an empty body is a validation error; signed out, a 401.
	testkit.SignedOutCookieIsRefused(t, testkit.Signout{Bus: e.bus, JWTKey: jwtKey, Processes: []string{e.URL, second}, Start: start,
		Method: "POST", Path: "/api/payments", Body: "{}", SignedIn: 400})
}
