package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testkit"
)

func TestSignedOutCookieIsRefusedByBothProcessesWithin5sAndAfterARestart(t *testing.T) {
	e := newEnv(t)
	second, _ := e.process(t)
	copied := user(t, "buyer")
	other := user(t, "buyer") // another session of the same user
	for _, url := range []string{e.URL, second} {
		require.Equal(t, 200, do(t, "GET", url+"/api/orders", "", copied).Status)
	}

	testkit.RevokeSession(t, e.bus, jwtKey, copied)
	for _, url := range []string{e.URL, second} {
		assert.Eventually(t, func() bool { return do(t, "GET", url+"/api/orders", "", copied).Status == 401 },
			5*time.Second, 20*time.Millisecond, "%s refuses the signed-out cookie", url)
		assert.Equal(t, 200, do(t, "GET", url+"/api/orders", "", other).Status, "the user's other session goes on")
	}

	restarted, _ := e.process(t)
	assert.Equal(t, 401, do(t, "GET", restarted+"/api/orders", "", copied).Status, "a process started after the signout refuses it at once")
	assert.Equal(t, 200, do(t, "GET", restarted+"/api/orders", "", other).Status)
}
