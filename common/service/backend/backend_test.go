package backend_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/service"
	"ticketing.dev/common/service/backend"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testkit"
)

var kit = testkit.New()

func TestMain(m *testing.M) { os.Exit(kit.Run(m)) }

// config is a service's configuration: a backend's, and its own.
type config struct {
	backend.Config
	Own string
}

func TestLoadConfigReadsWhatEveryBackendNeedsWithDefaults(t *testing.T) {
	e := service.NewEnv(func(string) string { return "" })
	c := backend.LoadConfig(e)
	require.Error(t, e.Err())
	assert.Equal(t, "missing required environment variable MONGO_URI\nmissing required environment variable JWT_KEY\n"+
		"missing required environment variable NATS_URL\nmissing required environment variable NATS_CLUSTER_ID\nmissing required environment variable NATS_CLIENT_ID",
		e.Err().Error(), "in this order, one a line")
	assert.True(t, c.CookieSecure)
	assert.Equal(t, session.DefaultTTL, c.SessionTTL)
	assert.Equal(t, "info", c.LogLevel)
	assert.Equal(t, "3000", c.HTTP.Port)
	assert.Equal(t, events.DefaultAckWait, c.NATS.AckWait)
}

// wire wires build on a fresh database and bus; stop is the test's to call.
func wire(t *testing.T, cfg config, build backend.Build[config]) (http.Handler, func(), error) {
	t.Helper()
	db, err := service.ConnectMongo(kit.Mongo(t).URI, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Client().Disconnect(context.Background()) })
	conn := testkit.NewSTAN(t).Connect(t)
	return backend.Wire(context.Background(), db, conn, service.NewLogger(io.Discard, "test", "info"), cfg, nil, build)
}

func TestWireBuildsTheServicesPartAndStopWaitsForAllItStarted(t *testing.T) {
	cfg := config{Config: backend.Config{JWTKey: "k", NATS: service.NATS{AckWait: 2 * time.Second, MaxDeliveries: 3}}, Own: "mine"}
	var got events.ListenerOptions
	var pruned atomic.Bool
	h, stop, err := wire(t, cfg, func(ctx context.Context, b *backend.Base, c config) (backend.Parts, error) {
		assert.Equal(t, "mine", c.Own, "build gets the service's own configuration")
		require.NotNil(t, b.Outbox)
		require.NotNil(t, b.Sessions)
		assert.Len(t, b.Ready(), 2, "the database and the bus")
		b.Go(func() {
			<-ctx.Done()
			time.Sleep(50 * time.Millisecond) // a slow last prune
			pruned.Store(true)
		})
		routes := service.NewRouter(b.Log, b.Ready())
		return backend.Parts{Routes: routes, QueueGroup: "test-service",
			Subscribe: func(_ context.Context, _ events.Bus, opts events.ListenerOptions) error {
				got = opts
				return nil
			}}, nil
	})
	require.NoError(t, err)
	assert.Equal(t, "test-service", got.QueueGroup)
	assert.Equal(t, 2*time.Second, got.AckWait)
	assert.Equal(t, 3, got.MaxDeliveries)
	assert.NotNil(t, got.Park, "dead letters are parked")
	assert.NotNil(t, got.Observer, "deliveries are measured")

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	assert.Equal(t, 200, rec.Code, rec.Body.String())

	require.Eventually(t, func() bool { return outboxGoroutines() > 0 }, 5*time.Second, 5*time.Millisecond, "the relay runs")
	stop()
	assert.True(t, pruned.Load(), "stop returned before a Go function did")
	assert.Zero(t, outboxGoroutines(), "stop returned before the relay did")
}

func TestWireUndoesWhatAFailedBuildStarted(t *testing.T) {
	for name, fail := range map[string]func(b *backend.Base) (backend.Parts, error){
		"build": func(*backend.Base) (backend.Parts, error) { return backend.Parts{}, errors.New("no indexes") },
		"listeners": func(*backend.Base) (backend.Parts, error) {
			return backend.Parts{QueueGroup: "g", Subscribe: func(context.Context, events.Bus, events.ListenerOptions) error {
				return errors.New("no indexes")
			}}, nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			var stopped atomic.Bool
			_, stop, err := wire(t, config{}, func(ctx context.Context, b *backend.Base, _ config) (backend.Parts, error) {
				b.Go(func() {
					<-ctx.Done()
					stopped.Store(true)
				})
				return fail(b)
			})
			require.EqualError(t, err, "no indexes")
			assert.Nil(t, stop)
			assert.True(t, stopped.Load(), "a Go function outlived the failed wiring")
			assert.Zero(t, outboxGoroutines(), "no relay for a service that did not start")
		})
	}
}

// outboxGoroutines counts the goroutines running the outbox relay.
func outboxGoroutines() int { return testkit.Goroutines("ticketing.dev/common/outbox.(*") }

func TestEveryRunsPeriodicallyThroughFailuresAndStopsWithTheService(t *testing.T) {
	var runs atomic.Int32
	_, stop, err := wire(t, config{Config: backend.Config{JWTKey: "k"}}, func(ctx context.Context, b *backend.Base, _ config) (backend.Parts, error) {
		b.Every(ctx, 10*time.Millisecond, "pruning", func(context.Context) error {
			runs.Add(1)
			return errors.New("the database is away") // logged; tried again next tick
		})
		return backend.Parts{Routes: service.NewRouter(b.Log, b.Ready())}, nil
	})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return runs.Load() >= 3 }, 5*time.Second, 5*time.Millisecond)
	stop()
	assert.Zero(t, testkit.Goroutines("backend.(*Base).Every"), "its loop is gone once stop has returned: it runs no more")
}
