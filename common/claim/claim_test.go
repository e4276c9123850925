package claim

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/service"
	"ticketing.dev/common/testkit"
)

var kit = testkit.New()

func TestMain(m *testing.M) { os.Exit(kit.Run(m)) }

// held is a test claim.
type held struct {
	Key    string    `bson:"_id"`
	Holder int       `bson:"holder"`
	At     time.Time `bson:"at"`
}

// processes are n database clients of one database, as n processes have.
func processes(t *testing.T, n int) []*mongo.Database {
	t.Helper()
	db := kit.Mongo(t)
	out := []*mongo.Database{}
	for range n {
		c, err := service.ConnectMongo(db.URI, "")
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Client().Disconnect(context.Background()) })
		out = append(out, c)
	}
	return out
}

func TestOfTwentyTakersOfOneKeyExactlyOneHoldsItAndTheOthersReadThatHolder(t *testing.T) {
	dbs := processes(t, 2)
	for round := range 5 {
		key := "key-" + string(rune('a'+round))
		var wins atomic.Int32
		winner := make(chan int, 20)
		seen := make(chan int, 20)
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				coll := dbs[i%2].Collection("claims")
				h, won, found, err := Take[held](context.Background(), coll, held{Key: key, Holder: i, At: time.Now()}, bson.D{{Key: "_id", Value: key}})
				require.NoError(t, err)
				if won {
					wins.Add(1)
					winner <- i
					return
				}
				require.True(t, found, "claims are never released here")
				seen <- h.Holder
			})
		}
		wg.Wait()
		close(seen)
		require.Equal(t, int32(1), wins.Load(), "round %d", round)
		w := <-winner
		for s := range seen {
			assert.Equal(t, w, s, "round %d: every loser read the winner", round)
		}
	}
}

func TestAClaimIsStaleOnlyOnceItsHoldersDeadlineAndTheMarginHavePassed(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	deadline := 15 * time.Second
	assert.Equal(t, 20*time.Second, StaleAfter(deadline))
	assert.False(t, Stale(at, at.Add(deadline), deadline), "its holder may still be at work")
	assert.False(t, Stale(at, at.Add(deadline+Margin), deadline), "its holder may still be recording what it did")
	assert.True(t, Stale(at, at.Add(deadline+Margin+time.Millisecond), deadline))
}

func TestOfTwentyProcessesFindingOneStaleClaimExactlyOneIsElectedToTakeItOver(t *testing.T) {
	dbs := processes(t, 2)
	for round := range 5 {
		name := "claims/key@" + time.Now().Format(time.RFC3339Nano)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				won, err := NewTakeovers(dbs[i%2]).Elect(context.Background(), name)
				require.NoError(t, err)
				if won {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int32(1), wins.Load(), "round %d", round)
	}
}

func TestATakerThatDiesIsReplacedOnlyOnceItsOwnElectionIsStale(t *testing.T) {
	db := processes(t, 1)[0]
	clock := testkit.NewClock(time.Now().Truncate(time.Millisecond)) // as the database keeps times
	first, second := NewTakeovers(db), NewTakeovers(db)
	first.SetClock(clock.Now)
	second.SetClock(clock.Now)
	ctx := context.Background()

	won, err := first.Elect(ctx, "claims/k@1")
	require.NoError(t, err)
	require.True(t, won)
	// The first taker dies before it is done: until its election is stale,
	// it may still be at work.
	clock.Advance(StaleAfter(TakeoverDeadline))
	won, err = second.Elect(ctx, "claims/k@1")
	require.NoError(t, err)
	assert.False(t, won)

	clock.Advance(time.Second)
	won, err = second.Elect(ctx, "claims/k@1")
	require.NoError(t, err)
	assert.True(t, won, "the next round")
	won, err = first.Elect(ctx, "claims/k@1")
	require.NoError(t, err)
	assert.False(t, won, "and only one")

	won, err = first.Elect(ctx, "claims/k@2")
	require.NoError(t, err)
	assert.True(t, won, "a later claim under the same key is an election of its own")
}
