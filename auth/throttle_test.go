package main

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/testkit"
	"ticketing.dev/common/validate"
)

const wrongCreds = `{"email":"test@test.com","password":"wrongpass"}`

func TestEleventhFailedSigninIs429WithRetryAfterEvenForTheRightPasswordAndOtherAccountsAreUnaffected(t *testing.T) {
	s := newTestServer(t) // the defaults: 10 failures in 15 minutes
	require.Equal(t, 201, do(t, "POST", s.URL+"/api/users/signup", creds).Status)
	require.Equal(t, 201, do(t, "POST", s.URL+"/api/users/signup", `{"email":"other@test.com","password":"password"}`).Status)
	for i := range 10 {
		r := do(t, "POST", s.URL+"/api/users/signin", wrongCreds)
		require.Equal(t, 400, r.Status, "failure %d: %s", i+1, r.Raw)
	}

	for name, body := range map[string]string{"wrong password": wrongCreds, "right password": creds} {
		r := do(t, "POST", s.URL+"/api/users/signin", body)
		assert.Equal(t, 429, r.Status, "%s: %s", name, r.Raw)
		assert.Equal(t, []string{"Too many failed sign-ins; try again in 15 minutes"}, messages(r), name)
		assert.Empty(t, r.Cookies, name)
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		require.NoError(t, err, "Retry-After is whole seconds: %q", r.Header.Get("Retry-After"))
		assert.InDelta(t, 15*60, secs, 30, name)
	}

	r := do(t, "POST", s.URL+"/api/users/signin", `{"email":"other@test.com","password":"password"}`)
	assert.Equal(t, 200, r.Status, "another account signs in: %s", r.Raw)
	r = do(t, "POST", s.URL+"/api/users/signin", `{"email":"nobody@test.com","password":"password"}`)
	assert.Equal(t, 400, r.Status, "another email is not throttled: %s", r.Raw)
}

func TestLockedSigninOpensAgainWhenThePeriodEnds(t *testing.T) {
	c := testkit.NewClock(time.Now())
	cfg := testConfig(t)
	cfg.now = c.Now
	s := newTestServerWith(t, cfg)
	require.Equal(t, 201, do(t, "POST", s.URL+"/api/users/signup", creds).Status)
	for range 10 {
		require.Equal(t, 400, do(t, "POST", s.URL+"/api/users/signin", wrongCreds).Status)
		c.Advance(time.Minute) // failures at 0, 1, … 9 minutes
	}
	// At 10 minutes: locked until the first failure is 15 minutes old.
	r := do(t, "POST", s.URL+"/api/users/signin", creds)
	require.Equal(t, 429, r.Status, r.Raw)
	assert.Equal(t, "300", r.Header.Get("Retry-After"))
	assert.Equal(t, []string{"Too many failed sign-ins; try again in 5 minutes"}, messages(r))

	c.Advance(5*time.Minute - time.Second)
	r = do(t, "POST", s.URL+"/api/users/signin", creds)
	require.Equal(t, 429, r.Status, "a second before the period ends: %s", r.Raw)
	assert.Equal(t, "1", r.Header.Get("Retry-After"))
	c.Advance(time.Second)
	r = do(t, "POST", s.URL+"/api/users/signin", creds)
	assert.Equal(t, 200, r.Status, "the right password works once the period ends: %s", r.Raw)
}

func TestTwoAuthProcessesShareTheFailureCount(t *testing.T) {
	s := newTestServer(t)
	second := s.process(t)
	urls := []string{s.URL, second}
	require.Equal(t, 201, do(t, "POST", s.URL+"/api/users/signup", creds).Status)
	for i := range 10 {
		require.Equal(t, 400, do(t, "POST", urls[i%2]+"/api/users/signin", wrongCreds).Status, "failure %d", i+1)
	}
	for _, url := range urls {
		assert.Equal(t, 429, do(t, "POST", url+"/api/users/signin", creds).Status, url)
	}
}

func TestConcurrentGuessesOverTwoProcessesCheckAtMostTheLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.SigninMaxFailures = 5
	s := newTestServerWith(t, cfg)
	second := s.process(t)
	require.Equal(t, 201, do(t, "POST", s.URL+"/api/users/signup", creds).Status)
	const n = 16
	statuses := make(chan int, n)
	for i := range n {
		url := []string{s.URL, second}[i%2]
		go func() { statuses <- do(t, "POST", url+"/api/users/signin", wrongCreds).Status }()
	}
	count := map[int]int{}
	for range n {
		count[<-statuses]++
	}
	assert.LessOrEqual(t, count[400], 5, "at most the limit of guesses reach the password check: %v", count)
	assert.Equal(t, n, count[400]+count[429], "%v", count)
}

func TestASigninTheServerFailedToCheckIsNotCountedAsAFailedGuess(t *testing.T) {
	db := kit.Mongo(t)
	ctx := context.Background()
	th, err := newThrottle(ctx, db.Database, 10, time.Hour, time.Now)
	require.NoError(t, err)
	// The users' database is gone (its client disconnected); the
	// throttle's is not.
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(db.URI))
	require.NoError(t, err)
	users, err := newStore(ctx, client.Database(db.Database.Name()))
	require.NoError(t, err)
	require.NoError(t, client.Disconnect(ctx))
	a := &api{users: users, throttle: th, validate: validate.New()}

	req := httptest.NewRequest("POST", "/api/users/signin", strings.NewReader(creds))
	req.Header.Set("Content-Type", "application/json")
	err = a.signin(httptest.NewRecorder(), req)
	require.Error(t, err, "the users' database failed")
	n, err := th.c.CountDocuments(ctx, bson.D{})
	require.NoError(t, err)
	assert.Zero(t, n, "no failed guess is recorded")
}
