package outbox

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
	"ticketing.dev/common/service"
	"ticketing.dev/common/testkit"
)

var kit = testkit.New()

func TestMain(m *testing.M) { os.Exit(kit.Run(m)) }

// doc is a test aggregate.
type doc struct {
	ID      primitive.ObjectID `bson:"_id"`
	N       int64              `bson:"n"`
	Version int64              `bson:"version"`
}

func docVersion(d *doc) int64 { return d.Version }

func event(d doc) events.TicketUpdated {
	return events.TicketUpdated{ID: d.ID.Hex(), Version: d.Version, Title: "t", Price: 1, UserID: "u"}
}

// process is one service process: its own database client, bus connection
// and Log, sharing nothing in memory with another.
type process struct {
	log  *Log
	docs *Aggregates
	conn events.Bus
}

func newProcess(t *testing.T, uri string, s *testkit.Broker, run bool) *process {
	t.Helper()
	db, err := service.ConnectMongo(uri, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Client().Disconnect(context.Background()) })
	conn := s.Connect(t)
	l := NewLog(db, conn, slog.New(slog.NewTextHandler(io.Discard, nil)))
	p := &process{log: l, docs: l.Aggregates("doc", db.Collection("docs")), conn: conn}
	require.NoError(t, l.EnsureIndexes(context.Background()))
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.Run(ctx, 200*time.Millisecond); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	return p
}

func create(t *testing.T, p *process) doc {
	t.Helper()
	d := doc{ID: primitive.NewObjectID()}
	require.NoError(t, p.docs.Commit(context.Background(), d.ID, 0, d, event(d)))
	return d
}

func increment(ctx context.Context, p *process, id primitive.ObjectID) (doc, error) {
	return Change(ctx, p.docs, id, docVersion, func(d *doc, next int64) (events.Event, error) {
		d.N++
		d.Version = next
		return event(*d), nil
	})
}

func TestOfTwentyRacersClaimingOneVersionExactlyOneWins(t *testing.T) {
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		db := kit.Mongo(t)
		s := newBus(t)
		a, b := newProcess(t, db.URI, s, false), newProcess(t, db.URI, s, false)
		for round := range 10 {
			d := create(t, a)
			var wins, conflicts atomic.Int32
			var wg sync.WaitGroup
			for i := range 20 {
				p := []*process{a, b}[i%2]
				wg.Add(1)
				go func() {
					defer wg.Done()
					next := doc{ID: d.ID, N: int64(i), Version: 1}
					err := p.docs.Commit(context.Background(), d.ID, 1, next, event(next))
					switch {
					case err == nil:
						wins.Add(1)
					case errors.Is(err, ErrConflict):
						conflicts.Add(1)
					default:
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			assert.Equal(t, int32(1), wins.Load(), "round %d", round)
			assert.Equal(t, int32(19), conflicts.Load(), "round %d", round)
		}
	})
}

func TestConcurrentChangesOverTwoProcessesAllApplyAndPublishInVersionOrder(t *testing.T) {
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		db := kit.Mongo(t)
		s := newBus(t)
		got := testkit.Capture[events.TicketUpdated](t, s.Connect(t))
		a, b := newProcess(t, db.URI, s, true), newProcess(t, db.URI, s, true)
		d := create(t, a)

		const n = 30
		var wg sync.WaitGroup
		for i := range n {
			p := []*process{a, b}[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := increment(context.Background(), p, d.ID)
				assert.NoError(t, err)
			}()
		}
		wg.Wait()
		var stored doc
		require.NoError(t, a.docs.Get(context.Background(), d.ID, &stored))
		assert.Equal(t, int64(n), stored.Version)
		assert.Equal(t, int64(n), stored.N, "no change lost")

		evs := got.Wait(t, n+1, 15*time.Second)
		// At least once: a version may repeat, but never one out of order.
		last := int64(-1)
		for _, e := range evs {
			assert.GreaterOrEqual(t, e.Version, last, "published out of order: %v", versions(evs))
			last = max(last, e.Version)
		}
		assert.Equal(t, int64(n), last)
	})
}

func versions(evs []events.TicketUpdated) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Version
	}
	return out
}

func TestAVersionClaimedByAProcessThatDiedIsRolledForwardAndPublishedByItsTwin(t *testing.T) {
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		ctx := context.Background()
		db := kit.Mongo(t)
		s := newBus(t)
		got := testkit.Capture[events.TicketUpdated](t, s.Connect(t))
		dead := newProcess(t, db.URI, s, false)
		d := create(t, dead) // published as it was written
		require.NoError(t, dead.log.relay.mark(ctx))
		// The dead process claimed version 1 and died before publishing it and
		// writing the document: only its record exists.
		next := doc{ID: d.ID, N: 41, Version: 1}
		state, err := bson.Marshal(next)
		require.NoError(t, err)
		agg := dead.docs.aggregate(d.ID)
		data := []byte(`{"id":"` + d.ID.Hex() + `","version":1,"title":"t","price":1,"userId":"u"}`)
		_, err = dead.log.coll.InsertOne(ctx, Record{Key: recordKey(agg, 1), Aggregate: agg, Version: 1, State: state,
			Subject: events.SubjectTicketUpdated, Data: data, Pending: true, PublishFirst: true, At: time.Now()})
		require.NoError(t, err)

		twin := newProcess(t, db.URI, s, false)
		clock := testkit.NewClock(time.Now())
		twin.log.now = clock.Now

		// Within Grace the claim is its writer's: a change waits, the sweep
		// leaves it.
		require.NoError(t, twin.log.Sweep(ctx))
		var stored doc
		require.NoError(t, twin.docs.Get(ctx, d.ID, &stored))
		assert.Equal(t, int64(0), stored.Version)

		clock.Advance(Grace + time.Second)
		require.NoError(t, twin.log.Sweep(ctx))
		evs := got.Wait(t, 2, 5*time.Second)
		assert.Equal(t, []int64{0, 1}, versions(evs), "v0 (by the dead process) then v1 (by its twin)")
		require.NoError(t, twin.docs.Get(ctx, d.ID, &stored))
		assert.Equal(t, doc{ID: d.ID, N: 41, Version: 1}, stored)

		// And the next change builds on it.
		after, err := increment(ctx, twin, d.ID)
		require.NoError(t, err)
		assert.Equal(t, int64(42), after.N)
		assert.Equal(t, int64(2), after.Version)
	})
}

func TestAChangeRollsForwardAClaimAbandonedLongerThanGrace(t *testing.T) {
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		ctx := context.Background()
		db := kit.Mongo(t)
		s := newBus(t)
		p := newProcess(t, db.URI, s, false)
		d := create(t, p)
		state, _ := bson.Marshal(doc{ID: d.ID, N: 10, Version: 1})
		agg := p.docs.aggregate(d.ID)
		_, err := p.log.coll.InsertOne(ctx, Record{Key: recordKey(agg, 1), Aggregate: agg, Version: 1, State: state,
			Subject: events.SubjectTicketUpdated, Data: []byte(`{}`), Pending: true, At: time.Now().Add(-Grace - time.Second)})
		require.NoError(t, err)

		after, err := increment(ctx, p, d.ID)
		require.NoError(t, err)
		assert.Equal(t, int64(11), after.N, "built on the rolled-forward version 1")
		assert.Equal(t, int64(2), after.Version)
	})
}

func TestReplicaVersionsApplyOnceInOrderAndDuplicatesRacingASuccessorDoNotRegress(t *testing.T) {
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		ctx := context.Background()
		db := kit.Mongo(t)
		s := newBus(t)
		a, b := newProcess(t, db.URI, s, false), newProcess(t, db.URI, s, false)
		id := primitive.NewObjectID()

		err := a.docs.Apply(ctx, id, 1, doc{ID: id, N: 1, Version: 1})
		assert.ErrorIs(t, err, ErrNotYet, "v1 before v0")
		require.NoError(t, a.docs.Apply(ctx, id, 0, doc{ID: id, Version: 0}))
		require.NoError(t, a.docs.Apply(ctx, id, 0, doc{ID: id, Version: 0}), "a redelivered v0 is already applied")

		for v := int64(1); v <= 20; v++ {
			// The same version delivered to both processes, and its successor
			// at once: whatever interleaving, v applies once and never undoes
			// v+1.
			var wg sync.WaitGroup
			for _, p := range []*process{a, b, a} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := p.docs.Apply(ctx, id, v, doc{ID: id, N: v, Version: v})
					if err != nil && !errors.Is(err, ErrInProgress) {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
		}
		var stored doc
		require.NoError(t, a.docs.Get(ctx, id, &stored))
		assert.Equal(t, doc{ID: id, N: 20, Version: 20}, stored)
		n, err := a.log.coll.CountDocuments(ctx, bson.D{{Key: "aggregate", Value: a.docs.aggregate(id)}})
		require.NoError(t, err)
		assert.Equal(t, int64(20), n, "one record per version after the first (the document's insert)")
	})
}

func TestCommitRefusesADocumentWhoseVersionIsNotTheClaimedOne(t *testing.T) {
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		db := kit.Mongo(t)
		p := newProcess(t, db.URI, newBus(t), false)
		id := primitive.NewObjectID()
		err := p.docs.Commit(context.Background(), id, 0, doc{ID: id, Version: 3}, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "version must be 0")
		err = p.docs.Get(context.Background(), id, &doc{})
		assert.ErrorIs(t, err, ErrNotFound)
	})
}

func TestStopReturnsOnlyOnceEveryRelayGoroutineHasExited(t *testing.T) {
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		db := kit.Mongo(t)
		s := newBus(t)
		p := newProcess(t, db.URI, s, false)
		require.Zero(t, relayGoroutines(), "no relay before Start")

		stop := p.log.Start(context.Background(), 10*time.Millisecond)
		require.Eventually(t, func() bool { return relayGoroutines() == 1 }, 5*time.Second, 5*time.Millisecond, "the sweep")
		for range 20 {
			create(t, p) // the sweep has records to mark as stop comes
		}
		stop()
		assert.Zero(t, relayGoroutines(), "stop returned while relay goroutines ran")
		stop() // a second stop is harmless
		assert.Zero(t, pending(t, p), "a stopping relay marks what its process published")
	})
}

// relayGoroutines counts the goroutines running the relay's methods.
func relayGoroutines() int { return testkit.Goroutines("ticketing.dev/common/outbox.(*") }
