package docdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ginIndexer makes FerretDB's pushed-down filters index-backed. FerretDB
// (PostgreSQL backend) turns an equality on a top-level field into
// `_jsonb->'field' @> value`, which its own B-tree indexes cannot serve; a
// GIN index on the same expression can. For every collection it creates one
// for _id and for every field of every index the collection declares.
type ginIndexer struct {
	connString string

	mu   sync.Mutex
	conn *pgx.Conn
	done map[string]bool // "<table oid>/<field>" already indexed
}

func newGINIndexer(connString string) *ginIndexer {
	return &ginIndexer{connString: connString, done: map[string]bool{}}
}

// metadataTable is FerretDB's per-database table describing its collections:
// one row per collection, {"_id": name, "table": ..., "indexes": [{"key": {...}}]}.
const metadataTable = "_ferretdb_database_metadata"

type collectionMeta struct {
	Table   string `json:"table"`
	Indexes []struct {
		Key map[string]any `json:"key"`
	} `json:"indexes"`
}

// Sync creates the GIN indexes that are missing now. Tables appear lazily
// and a dropped collection takes its indexes along, so it is run again as
// collections come and go; it is idempotent and cheap when nothing changed.
//
// ctx ends Sync between statements, never during one: pgx answers a
// cancelled statement by closing its connection, and PostgreSQL logs the
// session's end as "FATAL: connection to client lost" (at every stop that
// came during an index build). A statement is bounded by statementTimeout.
func (g *ginIndexer) Sync(stop context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := stop.Err(); err != nil {
		return err
	}
	if g.conn == nil || g.conn.IsClosed() {
		ctx, cancel := statement(stop)
		conn, err := pgx.Connect(ctx, g.connString)
		cancel()
		if err != nil {
			return fmt.Errorf("connecting for index sync: %w", err)
		}
		g.conn = conn
	}
	ctx, cancel := statement(stop)
	schemas, err := g.schemas(ctx)
	cancel()
	if err != nil {
		return err
	}
	for _, schema := range schemas {
		if stop.Err() != nil {
			return stop.Err()
		}
		if err := g.syncSchema(stop, schema); err != nil {
			return err
		}
	}
	return nil
}

func (g *ginIndexer) schemas(ctx context.Context) ([]string, error) {
	rows, err := g.conn.Query(ctx,
		`SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE c.relname = $1 AND c.relkind = 'r'`, metadataTable)
	if err != nil {
		return nil, fmt.Errorf("listing FerretDB databases: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// statementTimeout bounds each of Sync's statements: an index on a table
// of a few thousand documents takes milliseconds.
const statementTimeout = time.Minute

// statement is the context of one statement: not ended by stop, which
// Sync checks between statements.
func statement(stop context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(stop), statementTimeout)
}

func (g *ginIndexer) syncSchema(stop context.Context, schema string) error {
	ctx, cancel := statement(stop)
	defer cancel()
	q := fmt.Sprintf(`SELECT _jsonb::text, coalesce(to_regclass(%s || '.' || quote_ident(_jsonb->>'table'))::oid, 0)
		FROM %s.%s`, quoteLiteral(quoteIdent(schema)), quoteIdent(schema), quoteIdent(metadataTable))
	rows, err := g.conn.Query(ctx, q)
	if err != nil {
		if isUndefinedTable(err) {
			return nil // the database was dropped meanwhile
		}
		return fmt.Errorf("reading FerretDB metadata of %s: %w", schema, err)
	}
	type table struct {
		name   string
		oid    uint32
		fields []string
	}
	var tables []table
	for rows.Next() {
		var raw string
		var oid uint32
		if err := rows.Scan(&raw, &oid); err != nil {
			rows.Close()
			return fmt.Errorf("reading FerretDB metadata of %s: %w", schema, err)
		}
		var meta collectionMeta
		if err := json.Unmarshal([]byte(raw), &meta); err != nil {
			rows.Close()
			return fmt.Errorf("decoding FerretDB metadata of %s: %w", schema, err)
		}
		if oid == 0 {
			continue // the table is not created yet
		}
		fields := []string{"_id"}
		for _, ix := range meta.Indexes {
			for f := range ix.Key {
				fields = append(fields, f)
			}
		}
		tables = append(tables, table{name: meta.Table, oid: oid, fields: fields})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading FerretDB metadata of %s: %w", schema, err)
	}
	for _, t := range tables {
		for _, f := range t.fields {
			key := fmt.Sprintf("%d/%s", t.oid, f)
			if g.done[key] {
				continue
			}
			if stop.Err() != nil {
				return stop.Err()
			}
			ctx, cancel := statement(stop)
			_, err := g.conn.Exec(ctx, createGIN(schema, t.name, f))
			cancel()
			if err != nil {
				if isUndefinedTable(err) {
					continue
				}
				return fmt.Errorf("creating GIN index on %s.%s (%s): %w", schema, t.name, f, err)
			}
			g.done[key] = true
		}
	}
	return nil
}

// GINIndexName is the name of the GIN index on field of table: a distinct
// suffix keeps it apart from FerretDB's own index names.
func GINIndexName(table, field string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(table + "\x00" + field))
	prefix := table
	if len(prefix) > 40 {
		prefix = prefix[:40]
	}
	return fmt.Sprintf("%s_%08x_gin", prefix, h.Sum32())
}

// createGIN is the statement for one field; dotted fields use the path
// operator FerretDB uses for them.
func createGIN(schema, table, field string) string {
	expr := "_jsonb->" + quoteLiteral(field)
	if strings.Contains(field, ".") {
		expr = "_jsonb#>" + quoteLiteral("{"+strings.Join(strings.Split(field, "."), ",")+"}")
	}
	// fastupdate off: lookups stay flat instead of scanning a pending list
	// that grows with every insert until the next vacuum.
	return fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s.%s USING gin ((%s)) WITH (fastupdate = off)`,
		quoteIdent(GINIndexName(table, field)), quoteIdent(schema), quoteIdent(table), expr)
}

func (g *ginIndexer) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conn != nil {
		_ = g.conn.Close(context.Background())
		g.conn = nil
	}
}

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// isUndefinedTable: the table or schema went away (a test database dropped).
func isUndefinedTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "3F000")
}
