package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/claim"
	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/validate"
)

var kit = testkit.New()

func TestMain(m *testing.M) { os.Exit(kit.Run(m)) }

const jwtKey = "idempotency-test-key"

// thing is what the handler under test creates, once per run.
type thing struct {
	Name string `json:"name" validate:"required"`
}

type env struct {
	url     string
	store   *Store
	arrived atomic.Int32 // requests that reached either process
	runs    atomic.Int32
	fail    atomic.Bool // answer 500 instead of creating
	slow    chan struct{}
	hold    func(run int32) // called with the run's number before it creates
	db      testkit.DB
}

// newEnv serves POST /things behind sessions and the key middleware, as the
// services mount it; two stores on one database stand for two processes.
func newEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := &env{db: kit.Mongo(t)}
	e.store = New(e.db.Database)
	v := validate.New()
	sessions := session.NewManager(jwtKey, false)
	handler := httpapi.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		n := e.runs.Add(1)
		var req thing
		if err := v.Body(w, r, &req); err != nil {
			return err
		}
		if e.slow != nil {
			<-e.slow
		}
		if e.hold != nil {
			e.hold(n)
		}
		if e.fail.Load() {
			return httpapi.Internal(context.DeadlineExceeded)
		}
		res, err := e.db.Collection("things").InsertOne(r.Context(), bson.D{{Key: "name", Value: req.Name}})
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, r, http.StatusCreated, map[string]any{"id": res.InsertedID, "run": n})
		return nil
	})
	serve := func(s *Store) string {
		h := sessions.Middleware(session.RequireAuth(s.Middleware(handler)))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e.arrived.Add(1)
			h.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	e.url = serve(e.store)
	twin := serve(New(e.db.Database))
	return e, twin
}

func post(t *testing.T, url, key, body string, user string) testkit.Response {
	t.Helper()
	h := http.Header{}
	if key != "" {
		h.Set(Header, key)
	}
	return testkit.DoWith(t, h, "POST", url+"/things", body, testkit.SessionCookie(t, jwtKey, user, user+"@test.dev"))
}

// ranOnce asserts that the handler ran once, created one thing, and every
// request with the key got its answer.
func (e *env) ranOnce(t *testing.T, answers []testkit.Response) {
	t.Helper()
	for _, a := range answers {
		assert.Equal(t, 201, a.Status, a.Raw)
		assert.Equal(t, answers[0].Body["id"], a.Body["id"])
	}
	assert.EqualValues(t, 1, e.count(t))
	assert.EqualValues(t, 1, e.runs.Load())
}

func (e *env) count(t *testing.T) int64 {
	t.Helper()
	n, err := e.db.Collection("things").CountDocuments(context.Background(), bson.D{})
	require.NoError(t, err)
	return n
}

func TestTheSameKeyReplaysTheFirstResponseAndCreatesNothingNew(t *testing.T) {
	t.Parallel()
	e, twin := newEnv(t)
	first := post(t, e.url, "k-1", `{"name":"a"}`, "u1")
	require.Equal(t, 201, first.Status, first.Raw)
	again := post(t, twin, "k-1", `{"name":"a"}`, "u1")
	assert.Equal(t, 201, again.Status)
	assert.Equal(t, first.Raw, again.Raw, "the first response, byte for byte, from the other process too")
	assert.Equal(t, "true", again.Header.Get(ReplayedHeader))
	assert.Empty(t, first.Header.Get(ReplayedHeader))
	assert.Equal(t, "application/json; charset=utf-8", again.Header.Get("Content-Type"))
	assert.EqualValues(t, 1, e.count(t))
	assert.EqualValues(t, 1, e.runs.Load())
}

func TestConcurrentRequestsWithOneKeyOverTwoProcessesRunOnceAndAllGetItsAnswer(t *testing.T) {
	t.Parallel()
	e, twin := newEnv(t)
	e.slow = make(chan struct{})
	var wg sync.WaitGroup
	answers := make([]testkit.Response, 20)
	for i := range answers {
		url := e.url
		if i%2 == 1 {
			url = twin
		}
		wg.Go(func() { answers[i] = post(t, url, "k-race", `{"name":"a"}`, "u1") })
	}
	require.Eventually(t, func() bool { return e.arrived.Load() == int32(len(answers)) && e.runs.Load() == 1 },
		10*time.Second, 5*time.Millisecond, "every request arrives while the first runs")
	close(e.slow)
	wg.Wait()
	e.ranOnce(t, answers)
}

func TestTheSameKeyWithAnotherBodyIs422(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	require.Equal(t, 201, post(t, e.url, "k-2", `{"name":"a"}`, "u1").Status)
	r := post(t, e.url, "k-2", `{"name":"b"}`, "u1")
	assert.Equal(t, 422, r.Status)
	assert.JSONEq(t, `{"errors":[{"message":"Idempotency-Key was already used for a different request"}]}`, r.Raw)
	assert.EqualValues(t, 1, e.count(t))
}

func TestAnotherUsersSameKeyIsAnotherRequest(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	a := post(t, e.url, "shared", `{"name":"a"}`, "u1")
	b := post(t, e.url, "shared", `{"name":"a"}`, "u2")
	require.Equal(t, 201, a.Status)
	require.Equal(t, 201, b.Status)
	assert.NotEqual(t, a.Body["id"], b.Body["id"])
	assert.EqualValues(t, 2, e.count(t))
}

func TestWithoutAKeyEveryRequestRuns(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	post(t, e.url, "", `{"name":"a"}`, "u1")
	post(t, e.url, "", `{"name":"a"}`, "u1")
	assert.EqualValues(t, 2, e.count(t))
}

func TestAServerErrorIsNotKeptSoARetryCanSucceed(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	e.fail.Store(true)
	assert.Equal(t, 500, post(t, e.url, "k-3", `{"name":"a"}`, "u1").Status)
	e.fail.Store(false)
	r := post(t, e.url, "k-3", `{"name":"a"}`, "u1")
	assert.Equal(t, 201, r.Status)
	assert.Empty(t, r.Header.Get(ReplayedHeader))
	assert.EqualValues(t, 1, e.count(t))
}

func TestAValidationErrorIsKeptAndReplayed(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	first := post(t, e.url, "k-4", `{"name":""}`, "u1")
	assert.Equal(t, 400, first.Status)
	again := post(t, e.url, "k-4", `{"name":""}`, "u1")
	assert.Equal(t, 400, again.Status)
	assert.Equal(t, "true", again.Header.Get(ReplayedHeader))
	assert.EqualValues(t, 1, e.runs.Load())
}

func TestAKeyIsForgottenAfterTheWindow(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	clock := testkit.NewClock(time.Now())
	e.store.now = clock.Now
	require.Equal(t, 201, post(t, e.url, "k-5", `{"name":"a"}`, "u1").Status)
	clock.Advance(Window + time.Minute)
	r := post(t, e.url, "k-5", `{"name":"a"}`, "u1")
	assert.Equal(t, 201, r.Status)
	assert.Empty(t, r.Header.Get(ReplayedHeader), "a new request after 24 h")
	assert.EqualValues(t, 2, e.count(t))
}

func TestAKeyLeftPendingByACrashIsTakenOverOnceStale(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	e.store.wait = 200 * time.Millisecond
	clock := testkit.NewClock(time.Now())
	e.store.now = clock.Now
	id := "u1 POST /things k-6"
	sum := sha256.Sum256([]byte(`{"name":"a"}`))
	_, err := e.store.c.InsertOne(context.Background(), record{ID: id, BodyHash: hex.EncodeToString(sum[:]), CreatedAt: clock.Now().UTC()})
	require.NoError(t, err)

	// Until Stale, the first request may still be running: held.
	clock.Advance(Stale - time.Second)
	assert.Equal(t, 409, post(t, e.url, "k-6", `{"name":"a"}`, "u1").Status)
	assert.EqualValues(t, 0, e.count(t))

	// Past it, no live request can hold it (RequestTimeout): taken over.
	clock.Advance(2 * time.Second)
	r := post(t, e.url, "k-6", `{"name":"a"}`, "u1")
	assert.Equal(t, 201, r.Status, r.Raw)
	assert.EqualValues(t, 1, e.count(t))
}

// A request that outruns its bound has its key taken over; when it ends,
// after its successor, it must not overwrite the successor's answer, which
// is the key's from then on.
func TestARequestWhoseKeyWasTakenOverDoesNotOverwriteItsSuccessorsAnswer(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	clock := testkit.NewClock(time.Now())
	e.store.now = clock.Now
	first, second := make(chan struct{}), make(chan struct{})
	e.hold = func(run int32) {
		if run == 1 {
			<-first
		} else {
			<-second
		}
	}
	answers := make(chan testkit.Response, 2)
	go func() { answers <- post(t, e.url, "k-8", `{"name":"a"}`, "u1") }()
	require.Eventually(t, func() bool { return e.runs.Load() == 1 }, 5*time.Second, 5*time.Millisecond)

	clock.Advance(Stale + time.Second) // the first holder is taken to have died
	go func() { answers <- post(t, e.url, "k-8", `{"name":"a"}`, "u1") }()
	require.Eventually(t, func() bool { return e.runs.Load() == 2 }, 5*time.Second, 5*time.Millisecond)
	close(second)
	successor := <-answers
	require.Equal(t, 201, successor.Status, successor.Raw)
	close(first)
	late := <-answers
	require.Equal(t, 201, late.Status, late.Raw)
	require.NotEqual(t, successor.Body["id"], late.Body["id"])

	replayed := post(t, e.url, "k-8", `{"name":"a"}`, "u1")
	assert.Equal(t, 201, replayed.Status)
	assert.Equal(t, successor.Body["id"], replayed.Body["id"], "the key answers as its holder did")
}

func TestARouteThatRunsLongerHoldsItsKeysUntilItsOwnBoundIsPast(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	e.store.wait = 200 * time.Millisecond
	e.store.ForRequestsUpTo(time.Minute) // as payments does (payer.longest)
	clock := testkit.NewClock(time.Now())
	e.store.now = clock.Now
	id := "u1 POST /things k-9"
	sum := sha256.Sum256([]byte(`{"name":"a"}`))
	_, err := e.store.c.InsertOne(context.Background(), record{ID: id, BodyHash: hex.EncodeToString(sum[:]), CreatedAt: clock.Now().UTC()})
	require.NoError(t, err)

	clock.Advance(Stale + time.Second) // the default bound is past, this route's is not
	assert.Equal(t, 409, post(t, e.url, "k-9", `{"name":"a"}`, "u1").Status)
	clock.Advance(claim.StaleAfter(time.Minute) - Stale)
	r := post(t, e.url, "k-9", `{"name":"a"}`, "u1")
	assert.Equal(t, 201, r.Status, r.Raw)
	assert.EqualValues(t, 1, e.count(t))
}

func TestRetriesOverTwoProcessesRacingForOneStaleKeyRunTheRequestOnce(t *testing.T) {
	e, twin := newEnv(t)
	clock := testkit.NewClock(time.Now())
	e.store.now = clock.Now
	id := "u1 POST /things k-7"
	sum := sha256.Sum256([]byte(`{"name":"a"}`))
	_, err := e.store.c.InsertOne(context.Background(), record{ID: id, BodyHash: hex.EncodeToString(sum[:]), CreatedAt: clock.Now().UTC().Add(-Stale - time.Second)})
	require.NoError(t, err)

	// Every retry finds the key stale; one is elected to replace it, and
	// no retry's fresh claim is deleted by another's takeover.
	var wg sync.WaitGroup
	answers := make([]testkit.Response, 20)
	for i := range answers {
		url := []string{e.url, twin}[i%2]
		wg.Go(func() { answers[i] = post(t, url, "k-7", `{"name":"a"}`, "u1") })
	}
	wg.Wait()
	e.ranOnce(t, answers)
}

func TestStaleIsWellUnderAMinuteAndLongerThanARequestMayRun(t *testing.T) {
	t.Parallel()
	assert.Less(t, Stale, 40*time.Second)
	assert.Greater(t, Stale, httpapi.RequestTimeout+outbox.WriteDeadline, "the deadline, then a claimed write's publish and write")
}

// A request that failed because the database went away mid-request leaves
// its key to a release that cannot happen then: it is released as soon as
// the database answers again, not after Stale.
func TestAKeyOfARequestFailedByTheDatabaseIsReleasedOnceTheDatabaseIsBack(t *testing.T) {
	t.Parallel()
	db := kit.Mongo(t)
	server := strings.TrimPrefix(kit.MongoServerURI(t), "mongodb://")
	server, _, _ = strings.Cut(server, "/")
	proxy := testkit.NewProxy(t, server)
	client, err := mongo.Connect(context.Background(), options.Client().ApplyURI("mongodb://"+proxy.Addr).
		SetServerSelectionTimeout(300*time.Millisecond).SetTimeout(time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	flaky := New(client.Database(db.Name()))
	steady := New(db.Database)

	var runs atomic.Int32
	handler := httpapi.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if runs.Add(1) == 1 {
			proxy.SetDown(true) // the database dies mid-request
			return httpapi.Internal(context.DeadlineExceeded)
		}
		httpapi.WriteJSON(w, r, http.StatusCreated, map[string]string{"ok": "yes"})
		return nil
	})
	sessions := session.NewManager(jwtKey, false)
	serve := func(s *Store) string {
		srv := httptest.NewServer(sessions.Middleware(session.RequireAuth(s.Middleware(handler))))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	flakyURL, steadyURL := serve(flaky), serve(steady)

	assert.Equal(t, 500, post(t, flakyURL, "k-db", `{"name":"a"}`, "u1").Status)
	require.Eventually(t, func() bool { return testkit.Goroutines("idempotency.(*Store).release.func") == 1 },
		5*time.Second, 5*time.Millisecond, "the release failed and is being retried in the background")
	proxy.SetDown(false)

	start := time.Now()
	r := post(t, steadyURL, "k-db", `{"name":"a"}`, "u1")
	assert.Equal(t, 201, r.Status, r.Raw)
	assert.Less(t, time.Since(start), 5*time.Second, "released once the database is back, not after Stale")
	flaky.Wait()
}

func TestAMalformedKeyIs400(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	for _, k := range []string{"clé", strings.Repeat("k", 256)} {
		r := post(t, e.url, k, `{"name":"a"}`, "u1")
		assert.Equal(t, 400, r.Status, "%q", k)
		assert.Contains(t, r.Raw, "Idempotency-Key must be 1 to 255 printable ASCII characters")
	}
	assert.EqualValues(t, 0, e.count(t))
}

func TestAHandlerThatPanicsKeepsNothingSoARetryRuns(t *testing.T) {
	t.Parallel()
	db := kit.Mongo(t)
	store := New(db.Database)
	var panicking atomic.Bool
	panicking.Store(true)
	h := httpapi.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if panicking.Load() {
			panic("boom")
		}
		httpapi.WriteJSON(w, r, http.StatusCreated, map[string]string{"ok": "yes"})
		return nil
	})
	sessions := session.NewManager(jwtKey, false)
	log := slog.New(slog.DiscardHandler)
	// The panic recovery sits outside the key middleware, as in the services.
	srv := httptest.NewServer(httpapi.Middleware(log)(sessions.Middleware(session.RequireAuth(store.Middleware(h)))))
	t.Cleanup(srv.Close)

	assert.Equal(t, 500, post(t, srv.URL, "k-p", `{"name":"a"}`, "u1").Status)
	panicking.Store(false)
	r := post(t, srv.URL, "k-p", `{"name":"a"}`, "u1")
	assert.Equal(t, 201, r.Status, "the retry runs: nothing was kept for the key")
	assert.Empty(t, r.Header.Get(ReplayedHeader))
}

func TestPruneDeletesOnlyKeysPastTheWindow(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t)
	clock := testkit.NewClock(time.Now())
	e.store.now = clock.Now
	require.Equal(t, 201, post(t, e.url, "k-old", `{"name":"a"}`, "u1").Status)
	clock.Advance(Window - time.Minute)
	require.Equal(t, 201, post(t, e.url, "k-new", `{"name":"b"}`, "u1").Status)
	clock.Advance(2 * time.Minute) // k-old is past the window, k-new is not

	n, err := e.store.Prune(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	again := post(t, e.url, "k-new", `{"name":"b"}`, "u1")
	assert.Equal(t, "true", again.Header.Get(ReplayedHeader), "a key inside the window is still replayed")
	count, err := e.store.c.CountDocuments(context.Background(), bson.D{})
	require.NoError(t, err)
	assert.EqualValues(t, 1, count)
}
