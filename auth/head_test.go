package main

import (
	"io"
	"testing"

	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testkit"
)

// HEAD reaches every GET route's handler, signed in or not (the handlers
// here have no store behind them: only the routing is under test).
func TestHeadAnswersEveryGetRoute(t *testing.T) {
	r := routes(&api{sessions: session.NewManager(jwtKey, true)}, service.NewLogger(io.Discard, "auth", "info"))
	testkit.HeadAnswersEveryGetSignedInOrOut(t, r, jwtKey)
}
