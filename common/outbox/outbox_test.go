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
