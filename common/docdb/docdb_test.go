package docdb

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// lockedBuffer collects the server log while the server writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

// startExplaining starts an engine whose PostgreSQL logs the plan of every
// statement it runs (auto_explain), so a test sees the plans of the very
// statements FerretDB sends.
func startExplaining(t *testing.T) (*Engine, *lockedBuffer) {
	t.Helper()
	log := &lockedBuffer{}
	e, err := Start(context.Background(), Config{
		Dir:         pgDir(t),
		PostgresLog: log,
		PostgresSettings: []string{
			"session_preload_libraries=auto_explain",
			"auto_explain.log_min_duration=0",
		},
	})
	require.NoError(t, err)
	t.Cleanup(e.Stop)
	return e, log
}

// pgDir is a cluster directory the postgres user can reach (t.TempDir's
// parent is closed to other users).
func pgDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "docdb-test-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir + "/pg"
}

func connect(t *testing.T, e *Engine) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(context.Background(), options.Client().ApplyURI(e.URI()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

// tableOf is the PostgreSQL table FerretDB keeps a collection in.
func tableOf(t *testing.T, e *Engine, db, coll string) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), e.PostgresConnString())
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var table string
	require.NoError(t, conn.QueryRow(context.Background(),
		fmt.Sprintf(`SELECT _jsonb->>'table' FROM %s.%s WHERE _jsonb->>'_id' = $1`, quoteIdent(db), quoteIdent(metadataTable)), coll).Scan(&table))
	return table
}

func ginIndexes(t *testing.T, e *Engine, db, table string) []string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), e.PostgresConnString())
	require.NoError(t, err)
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(),
		`SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 AND indexdef LIKE '%USING gin%' ORDER BY 1`, db, table)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

// plans splits an auto_explain log into (query text, plan) pairs.
func plans(log string) [][2]string {
	var out [][2]string
	for _, chunk := range strings.Split(log, "plan:")[1:] {
		q, rest, _ := strings.Cut(chunk, "\n")
		if i := strings.Index(chunk, "Query Text:"); i >= 0 {
			q, rest, _ = strings.Cut(chunk[i+len("Query Text:"):], "\n")
		}
		if i := strings.Index(rest, " LOG: "); i >= 0 {
			rest = rest[:i]
		}
		out = append(out, [2]string{strings.TrimSpace(q), rest})
	}
	return out
}

func TestFindUpdateDeleteByIDAndByEveryDeclaredIndexFieldUseAnIndex(t *testing.T) {
	e, log := startExplaining(t)
	ctx := context.Background()
	db := connect(t, e).Database("explained")
	coll := db.Collection("things")
	_, err := coll.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "userId", Value: 1}, {Key: "_id", Value: 1}}},
		{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true)},
	})
	require.NoError(t, err)
	const n = 3000
	docs := make([]any, n)
	ids := make([]primitive.ObjectID, n)
	for i := range docs {
		ids[i] = primitive.NewObjectID()
		docs[i] = bson.D{{Key: "_id", Value: ids[i]}, {Key: "userId", Value: fmt.Sprintf("user%d", i%300)},
			{Key: "email", Value: fmt.Sprintf("u%d@example.com", i)}, {Key: "n", Value: i}}
	}
	_, err = coll.InsertMany(ctx, docs)
	require.NoError(t, err)
	require.NoError(t, e.SyncIndexes(ctx))

	table := tableOf(t, e, "explained", "things")
	assert.Len(t, ginIndexes(t, e, "explained", table), 3, "GIN indexes for _id, userId and email")
	conn, err := pgx.Connect(ctx, e.PostgresConnString())
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, fmt.Sprintf("ANALYZE %s.%s", quoteIdent("explained"), quoteIdent(table)))
	require.NoError(t, err)

	// logged returns the server's log up to now: it writes its log
	// asynchronously, so a statement run after everything before it marks
	// where that ends.
	marks := 0
	logged := func(t *testing.T) string {
		t.Helper()
		marks++
		mark := fmt.Sprintf("docdb_test_mark_%d", marks)
		_, err := conn.Exec(ctx, "SELECT '"+mark+"'")
		require.NoError(t, err)
		var got strings.Builder
		require.Eventually(t, func() bool {
			got.WriteString(log.take())
			return strings.Contains(got.String(), mark)
		}, 10*time.Second, 5*time.Millisecond, "the server did not log %s", mark)
		return got.String()
	}

	ops := []struct {
		name string
		run  func() error
	}{
		{"find by _id", func() error { return coll.FindOne(ctx, bson.D{{Key: "_id", Value: ids[7]}}).Err() }},
		{"find by userId", func() error {
			cur, err := coll.Find(ctx, bson.D{{Key: "userId", Value: "user7"}})
			if err != nil {
				return err
			}
			var got []bson.M
			if err := cur.All(ctx, &got); err != nil {
				return err
			}
			if len(got) != n/300 {
				return fmt.Errorf("found %d, want %d", len(got), n/300)
			}
			return nil
		}},
		{"find by email", func() error { return coll.FindOne(ctx, bson.D{{Key: "email", Value: "u9@example.com"}}).Err() }},
		{"update by _id", func() error {
			_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: ids[8]}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: -1}}}})
			return err
		}},
		{"update by _id and version-like field", func() error {
			_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: ids[9]}, {Key: "n", Value: 9}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 10}}}})
			return err
		}},
		{"update by userId", func() error {
			_, err := coll.UpdateOne(ctx, bson.D{{Key: "userId", Value: "user11"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: -2}}}})
			return err
		}},
		{"delete by _id", func() error { _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: ids[12]}}); return err }},
		{"delete by email", func() error {
			_, err := coll.DeleteOne(ctx, bson.D{{Key: "email", Value: "u13@example.com"}})
			return err
		}},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			_ = logged(t)
			require.NoError(t, op.run())
			var onTable int
			for _, p := range plans(logged(t)) {
				if !strings.Contains(p[0], table) || !strings.Contains(p[0], "WHERE") {
					continue
				}
				onTable++
				assert.NotContains(t, p[1], "Seq Scan", "statement %q", p[0])
				assert.Regexp(t, `Index (Only )?Scan`, p[1], "statement %q", p[0])
			}
			assert.Positive(t, onTable, "no statement with a filter on %s was logged", table)
		})
	}
}

func TestGINIndexesFollowCollectionsThatAppearLaterOrAreRecreated(t *testing.T) {
	e, err := Start(context.Background(), Config{Dir: pgDir(t), IndexEvery: 20 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(e.Stop)
	ctx := context.Background()
	db := connect(t, e).Database("later")

	for round := range 2 {
		_, err := db.Collection("orders").Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "userId", Value: 1}}})
		require.NoError(t, err)
		table := tableOf(t, e, "later", "orders")
		require.Eventually(t, func() bool { return len(ginIndexes(t, e, "later", table)) == 2 }, 5*time.Second, 20*time.Millisecond,
			"round %d: the background keeper indexes _id and userId", round)
		require.NoError(t, db.Drop(ctx))
	}
}

func TestStartBringsUpAFreshClusterByItselfAndStopLeavesNothingRunning(t *testing.T) {
	dir := pgDir(t)
	_, err := os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist, "nothing there before: Start runs initdb")
	log := &lockedBuffer{}
	e, err := Start(context.Background(), Config{Dir: dir, PostgresLog: log})
	require.NoError(t, err)
	_, err = os.Stat(dir + "/PG_VERSION")
	require.NoError(t, err, "a cluster was initialised")

	coll := connect(t, e).Database("fresh").Collection("c")
	_, err = coll.InsertOne(context.Background(), bson.D{{Key: "x", Value: 1}})
	require.NoError(t, err)
	pid := e.pg.cmd.Process.Pid
	sock := e.pg.sockDir

	e.Stop()
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "the postgres server is gone")
	_, err = os.Stat(sock)
	assert.ErrorIs(t, err, os.ErrNotExist, "its socket folder is removed")
	_, err = os.Stat(dir + "/postmaster.pid")
	assert.ErrorIs(t, err, os.ErrNotExist, "a clean shutdown: no lock file left")

	// The data stays: a second start reuses the cluster (no initdb).
	again, err := Start(context.Background(), Config{Dir: dir, PostgresLog: log})
	require.NoError(t, err)
	defer again.Stop()
	n, err := connect(t, again).Database("fresh").Collection("c").CountDocuments(context.Background(), bson.D{})
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)

	// The server logged nothing alarming: Start waited for its word
	// instead of connecting too early ("FATAL: the database system is
	// starting up"), and Stop let its sessions end ("FATAL: terminating
	// connection due to administrator command").
	assert.NotRegexp(t, `FATAL|ERROR|WARNING|PANIC`, log.take())
}

func TestPostmasterReadyOnlyForThisServerOnceItSaysReady(t *testing.T) {
	lockFile := func(pid int, status string) []byte {
		return fmt.Appendf(nil, "%d\n/var/tmp/pg\n1733480000\n5432\n/tmp/docdb-pg-1\n\n  5432001    3\n%s\n", pid, status)
	}
	assert.True(t, postmasterReady(lockFile(42, "ready   "), 42))
	assert.False(t, postmasterReady(lockFile(42, "starting"), 42))
	assert.False(t, postmasterReady(lockFile(41, "ready   "), 42), "left by an earlier server")
	assert.False(t, postmasterReady([]byte("42\n/var/tmp/pg\n"), 42), "still being written")
	assert.False(t, postmasterReady(nil, 42))
}
