package docdb

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// clientErrors is FerretDB's log handler: a statement that PostgreSQL
// refused for the data a client sent (SQLSTATE class 23, integrity
// constraints: above all a unique key already taken, which is how a
// service learns that an email is in use or that another process won a
// claim) is logged at DEBUG instead of ERROR. FerretDB answers the client
// with the error (E11000), and the client decides what it means; logged at
// ERROR it would read as a fault of the database. Every other record keeps
// its level.
type clientErrors struct{ slog.Handler }

// quietClientErrors wraps log's handler in clientErrors.
func quietClientErrors(log *slog.Logger) *slog.Logger {
	return slog.New(clientErrors{log.Handler()})
}

func (h clientErrors) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && refusedData(r) {
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		demoted := slog.NewRecord(r.Time, slog.LevelDebug, r.Message, r.PC)
		r.Attrs(func(a slog.Attr) bool {
			demoted.AddAttrs(a)
			return true
		})
		r = demoted
	}
	return h.Handler.Handle(ctx, r)
}

func (h clientErrors) WithAttrs(attrs []slog.Attr) slog.Handler {
	return clientErrors{h.Handler.WithAttrs(attrs)}
}

func (h clientErrors) WithGroup(name string) slog.Handler {
	return clientErrors{h.Handler.WithGroup(name)}
}

// refusedData reports an attribute holding an integrity constraint
// violation (pgx's query log puts the error under "err").
func refusedData(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		var pe *pgconn.PgError
		if err, ok := a.Value.Any().(error); ok && errors.As(err, &pe) && strings.HasPrefix(pe.Code, "23") {
			found = true
		}
		return !found
	})
	return found
}
