package service

import (
	"io"
	"log/slog"
	"strings"
)

// NewLogger returns a JSON logger for the named service writing to w.
// level is "debug", "info" (default), "warn" or "error"; debug adds one line
// per HTTP request.
func NewLogger(w io.Writer, name, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})).With("service", name)
}
