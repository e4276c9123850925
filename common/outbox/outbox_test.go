package outbox_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/testkit"
)

var kit = testkit.New()

func TestMain(m *testing.M) { os.Exit(kit.Run(m)) }

func entry(t *testing.T, v int64) outbox.Entry {
	t.Helper()
	e, err := outbox.NewEntry(events.TicketUpdated{ID: "t", Version: v, Title: "x", Price: 1, UserID: "u"})
	require.NoError(t, err)
	return e
}

func TestFlushPublishesEntriesInOrderAndEmptiesTheOutbox(t *testing.T) {
	ctx := context.Background()
	coll := kit.Mongo(t).Collection("docs")
	s := testkit.NewSTAN(t)
	got := testkit.Capture[events.TicketUpdated](t, s.Connect(t))
	relay := outbox.NewRelay(coll, s.Connect(t), &outbox.Locks{}, slog.New(slog.NewTextHandler(io.Discard, nil)))

	id := primitive.NewObjectID()
	_, err := coll.InsertOne(ctx, bson.M{"_id": id, outbox.Field: []outbox.Entry{entry(t, 1), entry(t, 2)}})
	require.NoError(t, err)
	_, err = coll.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$push": bson.M{outbox.Field: entry(t, 3)}})
	require.NoError(t, err)

	require.NoError(t, relay.Flush(ctx, id))
	evs := got.Wait(t, 3, 5*time.Second)
	for i, e := range evs {
		assert.Equal(t, int64(i+1), e.Version)
	}
	var doc bson.M
	require.NoError(t, coll.FindOne(ctx, bson.M{"_id": id}).Decode(&doc))
	assert.Empty(t, doc[outbox.Field])

	require.NoError(t, relay.Sweep(ctx), "nothing pending")
	got.Quiet(t, 3, 300*time.Millisecond)
}

func TestSweepPublishesWhatAFailedFlushLeftBehind(t *testing.T) {
	ctx := context.Background()
	coll := kit.Mongo(t).Collection("docs")
	s := testkit.NewSTAN(t)
	got := testkit.Capture[events.TicketUpdated](t, s.Connect(t))
	locks := &outbox.Locks{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	dead := s.Connect(t)
	require.NoError(t, dead.Close())
	id := primitive.NewObjectID()
	_, err := coll.InsertOne(ctx, bson.M{"_id": id, outbox.Field: []outbox.Entry{entry(t, 1)}})
	require.NoError(t, err)
	assert.Error(t, outbox.NewRelay(coll, dead, locks, log).Flush(ctx, id))

	require.NoError(t, outbox.NewRelay(coll, s.Connect(t), locks, log).Sweep(ctx))
	assert.Equal(t, int64(1), got.Wait(t, 1, 5*time.Second)[0].Version)
}

func TestRunSweepsSoonAfterAFailedFlushAndNowAndThenOtherwise(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	coll := kit.Mongo(t).Collection("docs")
	s := testkit.NewSTAN(t)
	got := testkit.Capture[events.TicketUpdated](t, s.Connect(t))
	locks := &outbox.Locks{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	relay := outbox.NewRelay(coll, s.Connect(t), locks, log)
	const interval = 50 * time.Millisecond
	go relay.Run(ctx, interval)
	time.Sleep(2 * interval) // past the sweep at start

	// A write whose flush failed (here: its request was cancelled): the
	// next interval's sweep publishes it.
	failed := primitive.NewObjectID()
	_, err := coll.InsertOne(ctx, bson.M{"_id": failed, outbox.Field: []outbox.Entry{entry(t, 1)}})
	require.NoError(t, err)
	cancelled, cancelNow := context.WithCancel(ctx)
	cancelNow()
	require.Error(t, relay.Flush(cancelled, failed))
	start := time.Now()
	got.Wait(t, 1, 2*time.Second)
	assert.Less(t, time.Since(start), 5*interval, "swept within an interval or two")

	// A write left by a crash (no failed flush in this process): the
	// safety-net sweep publishes it within safetyNetEvery intervals.
	_, err = coll.InsertOne(ctx, bson.M{"_id": primitive.NewObjectID(), outbox.Field: []outbox.Entry{entry(t, 2)}})
	require.NoError(t, err)
	assert.Equal(t, int64(2), got.Wait(t, 2, 13*interval+time.Second)[1].Version)
}
