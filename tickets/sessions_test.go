package main

import (
	"testing"

	"ticketing.dev/common/testkit"
)

func TestSignedOutCookieIsRefusedByBothProcessesWithin5sAndAfterARestart(t *testing.T) {
	e := newEnv(t)
	start := func(t *testing.T) string { url, _ := e.process(t); return url }
	second := start(t)
	testkit.SignedOutCookieIsRefused(t, testkit.Signout{Bus: e.bus, JWTKey: jwtKey, Processes: []string{e.URL, second}, Start: start,
		Method: "POST", Path: "/api/tickets", Body: `{"title":"concert","price":20}`, SignedIn: 201})
}
