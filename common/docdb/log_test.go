package docdb

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
)

func TestRefusedDataIsDebugAndRealFailuresStayErrors(t *testing.T) {
	duplicate := &pgconn.PgError{Severity: "ERROR", Code: "23505", Message: `duplicate key value violates unique constraint "users_email"`}
	for level, want := range map[slog.Level]string{slog.LevelError: "", slog.LevelDebug: "level=DEBUG msg=Query name=postgresql err="} {
		var out bytes.Buffer
		// As FerretDB's pgx log calls it: a named logger, the error under err.
		log := quietClientErrors(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: level}))).With("name", "postgresql")
		log.Error("Query", "err", duplicate, "sql", "INSERT ...")
		log.Error("Query", "err", fmt.Errorf("inserting: %w", &pgconn.PgError{Code: "23503"}))
		if want == "" {
			assert.Empty(t, out.String(), "at %s a refused insert is not shown", level)
		} else {
			assert.Contains(t, out.String(), want)
			assert.NotContains(t, out.String(), "level=ERROR")
		}
	}

	var out bytes.Buffer
	log := quietClientErrors(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelError}))).With("name", "postgresql")
	log.Error("Query", "err", &pgconn.PgError{Severity: "FATAL", Code: "53300", Message: "sorry, too many clients already"})
	log.Error("Query", "err", errors.New("connection reset by peer"))
	log.Error("Failed to insert documents")
	log.Warn("Response message", "err", duplicate)
	assert.Equal(t, 3, bytes.Count(out.Bytes(), []byte("level=ERROR")), out.String())
	assert.NotContains(t, out.String(), "WARN", "below the threshold, as before")
}
