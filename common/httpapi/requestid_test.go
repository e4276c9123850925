package httpapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/httpapi"
)

// logLines decodes JSON log output, one object a line.
func logLines(t *testing.T, out *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		lines = append(lines, m)
	}
	return lines
}

func TestCallersRequestIDIsReturnedAndOnEveryLogLine(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := httpapi.Middleware(log)(httpapi.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		assert.Equal(t, "abc-123", httpapi.RequestID(r.Context()))
		httpapi.Logger(r.Context()).Info("handling")
		return errors.New("boom") // logged by WriteError
	}))
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set(httpapi.RequestIDHeader, "abc-123")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)

	assert.Equal(t, "abc-123", rec.Header().Get(httpapi.RequestIDHeader))
	lines := logLines(t, &out)
	require.Len(t, lines, 3) // handling, request failed, access line
	for _, l := range lines {
		assert.Equal(t, "abc-123", l["requestId"], l)
	}
}

func TestMissingOrUnfitRequestIDIsReplacedByANewOne(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	h := httpapi.Middleware(log)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	seen := map[string]bool{}
	for _, given := range []string{"", "has space", strings.Repeat("x", 129), "new\nline"} {
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.Header[httpapi.RequestIDHeader] = []string{given}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		id := rec.Header().Get(httpapi.RequestIDHeader)
		assert.NotEmpty(t, id, "for %q", given)
		assert.NotEqual(t, given, id)
		assert.False(t, seen[id], "ids are unique")
		seen[id] = true
	}
}
