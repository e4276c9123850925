package outbox

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/busserver"
	"ticketing.dev/common/events"
	"ticketing.dev/common/service"
	"ticketing.dev/common/testkit"
)

// pending counts the records not marked published: later versions' in
// the log, first versions' with their documents.
func pending(t *testing.T, p *process) int64 {
	t.Helper()
	var n int64
	for _, c := range p.log.collections() {
		m, err := c.CountDocuments(context.Background(), bson.D{{Key: "pending", Value: true}})
		require.NoError(t, err)
		n += m
	}
	return n
}

func TestVersionsPublishedByAProcessThatDiedBeforeMarkingThemAreMarkedAndOnlyTheFirstIsPublishedAgain(t *testing.T) {
	ctx := context.Background()
	db := kit.Mongo(t)
	s := testkit.NewSTAN(t)
	got := testkit.Capture[events.TicketUpdated](t, s.Connect(t))
	crashed := newProcess(t, db.URI, s, false) // its relay never runs: nothing marked
	d := create(t, crashed)
	for range 3 {
		_, err := increment(ctx, crashed, d.ID)
		require.NoError(t, err)
	}
	assert.Equal(t, []int64{0, 1, 2, 3}, versions(got.Wait(t, 4, 5*time.Second)), "each published as it was written")
	assert.EqualValues(t, 4, pending(t, crashed))

	restarted := newProcess(t, db.URI, s, false)
	restarted.log.now = func() time.Time { return time.Now().Add(sweepAge) }
	require.NoError(t, restarted.log.Sweep(ctx))
	assert.Zero(t, pending(t, restarted))
	// A later version's written document means its event went out: only
	// marked. A first version is written with its record, before its
	// event: published again (at least once).
	assert.Equal(t, []int64{0, 1, 2, 3, 0}, versions(got.Wait(t, 5, 5*time.Second)))
	// Neither process runs its relay: the sweep, returned, published all
	// it was going to.
	got.Exactly(t, 5)
}

func TestAVersionWhoseEventCouldNotBePublishedHoldsItsSuccessorsUntilTheSweepPublishesAndWritesIt(t *testing.T) {
	ctx := context.Background()
	db := kit.Mongo(t)
	s := testkit.NewSTAN(t)
	got := testkit.Capture[events.TicketUpdated](t, s.Connect(t))
	cut := newProcess(t, db.URI, s, false)
	other := newProcess(t, db.URI, s, false)
	d := create(t, other)
	got.Wait(t, 1, 5*time.Second)

	require.NoError(t, cut.conn.Close()) // the bus goes away under this process
	_, err := increment(ctx, cut, d.ID)
	require.ErrorContains(t, err, "claimed; it will be applied later")
	var stored doc
	require.NoError(t, other.docs.Get(ctx, d.ID, &stored))
	assert.Equal(t, int64(0), stored.Version, "not written, since not published")

	// Its successor cannot be claimed while v1 is its writer's.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = increment(short, other, d.ID)
	cancel()
	require.Error(t, err)
	// Both writers have returned, and neither runs its relay: nothing more
	// is published until the sweep below (a v1 the bus stored though cut
	// never heard back would be the subject's last, and counted).
	got.Exactly(t, 1)

	// Past Grace, the sweep publishes v1, then writes it; v2 follows.
	later := time.Now().Add(Grace + time.Second)
	other.log.now = func() time.Time { return later }
	require.NoError(t, other.log.Sweep(ctx))
	after, err := increment(ctx, other, d.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(2), after.N, "built on v1")
	assert.Equal(t, []int64{0, 1, 2}, versions(got.Wait(t, 3, 5*time.Second)))
}

func TestARecordOfALogWithoutABusIsPublishedByTheSweepOfOneWithABus(t *testing.T) {
	ctx := context.Background()
	db := kit.Mongo(t)
	s := testkit.NewSTAN(t)
	got := testkit.Capture[events.TicketUpdated](t, s.Connect(t))
	conn, err := service.ConnectMongo(db.URI, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Client().Disconnect(context.Background()) })
	quiet := NewLog(conn, nil, slog.New(slog.DiscardHandler)) // a tool's log: it publishes nothing
	d := doc{ID: primitive.NewObjectID()}
	require.NoError(t, quiet.Aggregates("doc", conn.Collection("docs")).Commit(ctx, d.ID, 0, d, event(d)))
	// A log publishes within Commit or from its relay, and this one has
	// neither a bus nor a relay running.
	got.Exactly(t, 0)

	p := newProcess(t, db.URI, s, false)
	p.log.now = func() time.Time { return time.Now().Add(sweepAge) }
	require.NoError(t, p.log.Sweep(ctx))
	assert.Equal(t, []int64{0}, versions(got.Wait(t, 1, 5*time.Second)))
	assert.Zero(t, pending(t, p))
}

func TestPublishedRecordsAreMarkedInBulkKeepingNoStateAndAFirstVersionsOwnRecordIsDropped(t *testing.T) {
	ctx := context.Background()
	db := kit.Mongo(t)
	p := newProcess(t, db.URI, testkit.NewSTAN(t), false)
	d := create(t, p)
	for range 4 {
		_, err := increment(ctx, p, d.ID)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 5, pending(t, p))
	assert.Len(t, p.log.relay.marks, 5, "queued")
	require.NoError(t, p.log.relay.mark(ctx)) // one command per collection
	assert.Zero(t, pending(t, p))
	n, err := p.log.coll.CountDocuments(ctx, bson.D{{Key: "state", Value: bson.D{{Key: "$exists", Value: true}}}})
	require.NoError(t, err)
	assert.Zero(t, n, "the documents are written: their state is not kept")
	n, err = p.docs.docs.CountDocuments(ctx, bson.D{})
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "the first version's record is no claim (the document's id is): dropped")
}

func TestAFirstVersionIsOneInsertOfItsRecordAndDocumentAndItsIDIsTheClaim(t *testing.T) {
	ctx := context.Background()
	db := kit.Mongo(t)
	p := newProcess(t, db.URI, testkit.NewSTAN(t), false)
	d := create(t, p)
	other := doc{ID: d.ID, N: 9}
	assert.ErrorIs(t, p.docs.Commit(ctx, d.ID, 0, other, event(other)), ErrConflict)
	require.NoError(t, p.log.relay.mark(ctx))
	assert.ErrorIs(t, p.docs.Commit(ctx, d.ID, 0, other, event(other)), ErrConflict, "after its record is dropped too")
	var stored doc
	require.NoError(t, p.docs.Get(ctx, d.ID, &stored))
	assert.Equal(t, d, stored)
	n, err := p.docs.docs.CountDocuments(ctx, bson.D{})
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "a losing claim leaves nothing behind")
}

func TestAFirstVersionClaimedUnderTheCallersKeyIsOneClaimAndIsRolledForwardByTheSweep(t *testing.T) {
	ctx := context.Background()
	db := kit.Mongo(t)
	s := testkit.NewSTAN(t)
	got := testkit.Capture[events.TicketUpdated](t, s.Connect(t))
	p := newProcess(t, db.URI, s, false)
	a, b := doc{ID: primitive.NewObjectID()}, doc{ID: primitive.NewObjectID()}
	require.NoError(t, p.docs.CommitFirst(ctx, "slot/x/0", a.ID, a, event(a)))
	assert.ErrorIs(t, p.docs.CommitFirst(ctx, "slot/x/0", b.ID, b, event(b)), ErrConflict, "the key is taken")
	held, found, err := p.docs.Claim(ctx, "slot/x/0")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, "doc/"+a.ID.Hex(), held.Aggregate)
	assert.ErrorIs(t, p.docs.Get(ctx, b.ID, &doc{}), ErrNotFound)

	// A writer that died after claiming under its key is rolled forward.
	c := doc{ID: primitive.NewObjectID()}
	state, err := bson.Marshal(c)
	require.NoError(t, err)
	// (the record alone: its insert with the document was split).
	_, err = p.docs.docs.InsertOne(ctx, Record{Key: "slot/y/0", Aggregate: p.docs.aggregate(c.ID), State: state, Subject: events.SubjectTicketUpdated,
		Data: []byte(`{"id":"` + c.ID.Hex() + `","version":0}`), Pending: true, At: time.Now().Add(-Grace - time.Second)})
	require.NoError(t, err)
	require.NoError(t, p.log.Sweep(ctx))
	require.NoError(t, p.docs.Get(ctx, c.ID, &doc{}))
	evs := got.Wait(t, 2, 5*time.Second)
	assert.Equal(t, c.ID.Hex(), evs[1].ID)
}

func TestChangeStartsFromTheDocumentItLastWroteAndFromTheDatabaseOnceAnotherProcessWroteSince(t *testing.T) {
	ctx := context.Background()
	db := kit.Mongo(t)
	s := testkit.NewSTAN(t)
	a, b := newProcess(t, db.URI, s, false), newProcess(t, db.URI, s, false)
	a.docs.Cached()
	b.docs.Cached()
	d := create(t, a)
	for _, p := range []*process{a, a, b, b, a, b} { // a change after the other process's starts from a copy behind
		_, err := increment(ctx, p, d.ID)
		require.NoError(t, err)
	}
	var stored doc
	require.NoError(t, a.docs.Get(ctx, d.ID, &stored))
	assert.Equal(t, doc{ID: d.ID, N: 6, Version: 6}, stored, "no change lost or made on a copy behind")
}

func TestADecisionToChangeNothingOrToRefuseMadeOnACachedCopyIsMadeAgainOnTheDatabasesDocument(t *testing.T) {
	ctx := context.Background()
	db := kit.Mongo(t)
	s := testkit.NewSTAN(t)
	a, b := newProcess(t, db.URI, s, false), newProcess(t, db.URI, s, false)
	a.docs.Cached()
	d := create(t, a) // a's copy: N 0
	_, err := increment(ctx, b, d.ID)
	require.NoError(t, err) // the database: N 1

	refuseAtZero := func(d *doc, next int64) (events.Event, error) {
		if d.N == 0 {
			return nil, errors.New("refused at N 0")
		}
		d.N, d.Version = 10, next
		return event(*d), nil
	}
	after, err := Change(ctx, a.docs, d.ID, docVersion, refuseAtZero)
	require.NoError(t, err, "decided again on N 1")
	assert.Equal(t, int64(10), after.N)
	assert.Equal(t, int64(2), after.Version)
}

func TestApplyPatchSetsItsFieldsOnceAndInOrder(t *testing.T) {
	ctx := context.Background()
	db := kit.Mongo(t)
	p := newProcess(t, db.URI, testkit.NewSTAN(t), false)
	id := primitive.NewObjectID()
	require.NoError(t, p.docs.Apply(ctx, id, 0, doc{ID: id, N: 7}))
	assert.ErrorIs(t, p.docs.ApplyPatch(ctx, id, 2, bson.D{{Key: "n", Value: int64(9)}}), ErrNotYet)
	require.NoError(t, p.docs.ApplyPatch(ctx, id, 1, bson.D{{Key: "n", Value: int64(8)}}))
	require.NoError(t, p.docs.ApplyPatch(ctx, id, 2, bson.D{{Key: "n", Value: int64(9)}}))
	require.NoError(t, p.docs.ApplyPatch(ctx, id, 1, bson.D{{Key: "n", Value: int64(100)}}), "a redelivered v1 is applied already")
	var stored doc
	require.NoError(t, p.docs.Get(ctx, id, &stored))
	assert.Equal(t, doc{ID: id, N: 9, Version: 2}, stored)
}

// A JetStream leader election leaves the stream without a leader for some
// seconds (4–9 s in a cluster; here JetStream is switched off for 6 s): a
// writer holds its claimed version's publish meanwhile, and answers once
// the event is stored, instead of failing a request the bus would take a
// moment later.
func TestAWriterHoldsItsPublishWhileTheStreamIsAwayAndSucceedsOnceItIsBack(t *testing.T) {
	ctx := context.Background()
	db := kit.Mongo(t)
	dir := t.TempDir()
	srv, err := busserver.StartJetStream(busserver.JetStreamOptions{Name: "test", Host: "127.0.0.1", Port: -1, Dir: dir})
	require.NoError(t, err)
	b := &testkit.Broker{Kind: events.KindJetStream, URL: srv.ClientURL(), Shutdown: func() { srv.Shutdown(); srv.WaitForShutdown() }}
	t.Cleanup(b.Shutdown)
	p := newProcess(t, db.URI, b, false)
	d := create(t, p)

	require.NoError(t, srv.DisableJetStream())
	const away = 6 * time.Second // longer than the sweep's publishTimeout
	back := make(chan error, 1)
	time.AfterFunc(away, func() { back <- srv.EnableJetStream(&server.JetStreamConfig{StoreDir: dir}) })
	start := time.Now()
	changed, err := increment(ctx, p, d.ID)
	require.NoError(t, err, "held until the stream was back, not failed")
	require.NoError(t, <-back)
	assert.GreaterOrEqual(t, time.Since(start), away, "it could not have been stored before")
	assert.EqualValues(t, 1, changed.Version)
	var stored doc
	require.NoError(t, p.docs.Get(ctx, d.ID, &stored))
	assert.EqualValues(t, 1, stored.Version, "written once published")
	got := testkit.Capture[events.TicketUpdated](t, b.Connect(t))
	assert.Equal(t, []int64{0, 1}, versions(got.Wait(t, 2, 5*time.Second)), "both stored, in order")
	// Stored once each, however often the held publish was tried: the
	// writer has returned and no relay runs, so the subject's last message
	// is v1's.
	got.Exactly(t, 2)
}
