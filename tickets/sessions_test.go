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
	body := `{"title":"concert","price":20}`
	for _, url := range []string{e.URL, second} {
		require.Equal(t, 201, do(t, "POST", url+"/api/tickets", body, copied).Status)
	}

	testkit.RevokeSession(t, e.bus, jwtKey, copied)
	for _, url := range []string{e.URL, second} {
		assert.Eventually(t, func() bool { return do(t, "POST", url+"/api/tickets", body, copied).Status == 401 },
			5*time.Second, 20*time.Millisecond, "%s refuses the signed-out cookie", url)
		assert.Equal(t, 201, do(t, "POST", url+"/api/tickets", body, other).Status, "the user's other session goes on")
	}

	restarted, _ := e.process(t)
	assert.Equal(t, 401, do(t, "POST", restarted+"/api/tickets", body, copied).Status, "a process started after the signout refuses it at once")
	assert.Equal(t, 201, do(t, "POST", restarted+"/api/tickets", body, other).Status)
}
