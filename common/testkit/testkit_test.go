package testkit_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testkit"
)

var kit = testkit.New()

func TestMain(m *testing.M) { os.Exit(kit.Run(m)) }

func TestEachTestGetsAFreshDatabase(t *testing.T) {
	ctx := context.Background()
	a := kit.Mongo(t)
	b := kit.Mongo(t)
	assert.NotEqual(t, a.Name(), b.Name())
	_, err := a.Collection("c").InsertOne(ctx, bson.M{"x": 1})
	require.NoError(t, err)
	n, err := b.Collection("c").CountDocuments(ctx, bson.M{})
	require.NoError(t, err)
	assert.Zero(t, n)

	// The URI a service would be given reaches the same database.
	db, err := service.ConnectMongo(a.URI, "unused")
	require.NoError(t, err)
	assert.Equal(t, a.Name(), db.Name())
	n, err = db.Collection("c").CountDocuments(ctx, bson.M{})
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
}

func TestRedisLauncherAnswersPing(t *testing.T) {
	r := testkit.NewRedis(t)
	c, err := net.Dial("tcp", r.Addr())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("PING\r\n"))
	require.NoError(t, err)
	buf := make([]byte, 7)
	_, err = c.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "+PONG\r\n", string(buf))
}

func TestStripeMockLauncherServesTheAPI(t *testing.T) {
	base := testkit.NewStripeMock(t)
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/charges", nil)
	req.SetBasicAuth("sk_test_123", "")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
}

func TestProxyCanCutAndRestoreADependency(t *testing.T) {
	r := testkit.NewRedis(t)
	p := testkit.NewProxy(t, r.Addr())
	ping := func() error {
		c, err := net.DialTimeout("tcp", p.Addr, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			return err
		}
		buf := make([]byte, 7)
		_, err = c.Read(buf)
		return err
	}
	require.NoError(t, ping())
	p.SetDown(true)
	assert.Error(t, ping())
	p.SetDown(false)
	assert.NoError(t, ping())
}

func TestSessionCookieSignsInTheUserForThatKeyOnly(t *testing.T) {
	c := testkit.SessionCookie(t, "k", "id1", "a@b.co")
	whoami := func(key string) string {
		var id string
		h := session.NewManager(key, false).Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			u, _ := session.CurrentUser(r.Context())
			id = u.ID
		}))
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(c)
		h.ServeHTTP(httptest.NewRecorder(), r)
		return id
	}
	assert.Equal(t, "id1", whoami("k"))
	assert.Empty(t, whoami("other"))
}

func TestKitStripeMockIsSharedAndServes(t *testing.T) {
	a := kit.StripeMock(t)
	assert.Equal(t, a, kit.StripeMock(t), "one per test binary")
	req, _ := http.NewRequest(http.MethodPost, a+"/v1/charges", strings.NewReader("amount=2010&currency=usd&source=tok_visa"))
	req.SetBasicAuth("sk_test_123", "")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
}

func TestSyncBufferKeepsEveryLineWrittenFromManyGoroutines(t *testing.T) {
	var b testkit.SyncBuffer
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for range 20 {
				_, _ = b.Write([]byte("line\n"))
				_ = b.String() // read while others write (go test -race)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, strings.Repeat("line\n", 1000), b.String())
}

func TestMetricsCountWhatListenersReportByOutcome(t *testing.T) {
	m := testkit.NewMetrics()
	observer := metrics.NewEvents(m.Registerer())
	assert.Zero(t, m.Handled(events.SubjectOrderCancelled, events.OutcomeAcked))
	for _, o := range []events.Outcome{events.OutcomeRetried, events.OutcomeRetried, events.OutcomeAcked} {
		observer.EventHandled(events.Handled{Subject: events.SubjectOrderCancelled, QueueGroup: "g", Outcome: o})
	}
	observer.EventHandled(events.Handled{Subject: events.SubjectOrderCreated, QueueGroup: "g", Outcome: events.OutcomeAcked})
	assert.Equal(t, 2, m.Handled(events.SubjectOrderCancelled, events.OutcomeRetried))
	assert.Equal(t, 1, m.Handled(events.SubjectOrderCancelled, events.OutcomeAcked))
	assert.Equal(t, 1, m.Handled(events.SubjectOrderCreated, events.OutcomeAcked))
	m.WaitHandled(t, events.SubjectOrderCancelled, events.OutcomeRetried, 2, time.Second)
	assert.Nil(t, (*testkit.Metrics)(nil).Registerer(), "a nil Metrics wires a service unmeasured")
}

func TestExactlyCountsEveryEventTheServerHoldsWhenCalled(t *testing.T) {
	b := testkit.NewSTAN(t)
	got := testkit.Capture[events.OrderCancelled](t, b.Connect(t))
	assert.Empty(t, got.Exactly(t, 0), "an empty subject")

	other := b.Connect(t)
	for i := range 3 {
		testkit.Publish(t, other, events.OrderCancelled{ID: "o", Version: int64(i + 1)})
	}
	evs := got.Exactly(t, 3) // published on another connection, stored: counted however late they arrive
	assert.Equal(t, int64(3), evs[2].Version)
}
