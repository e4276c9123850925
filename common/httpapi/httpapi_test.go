package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/httpapi"
)

type envelope struct {
	Errors []httpapi.Detail `json:"errors"`
}

func serve(t *testing.T, log *slog.Logger, h http.Handler) (*httptest.ResponseRecorder, envelope) {
	t.Helper()
	rec := httptest.NewRecorder()
	httpapi.Middleware(log)(h).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	var env envelope
	if rec.Code >= 400 {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &env), rec.Body.String())
	}
	return rec, env
}

func returning(err error) http.Handler {
	return httpapi.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return err })
}

func TestEachTypedErrorHasItsStatusAndEnvelope(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		status int
		want   []httpapi.Detail
	}{
		{"bad request", httpapi.BadRequest("Email in use"), 400, []httpapi.Detail{{Message: "Email in use"}}},
		{"not authorized", httpapi.ErrNotAuthorized, 401, []httpapi.Detail{{Message: "Not authorized"}}},
		{"not found", httpapi.ErrNotFound, 404, []httpapi.Detail{{Message: "Not Found"}}},
		{"validation", httpapi.Validation(httpapi.Detail{Field: "email", Message: "Email must be valid"}, httpapi.Detail{Field: "password", Message: "too short"}),
			400, []httpapi.Detail{{Field: "email", Message: "Email must be valid"}, {Field: "password", Message: "too short"}}},
		{"wrapped", fmt.Errorf("context: %w", httpapi.ErrNotFound), 404, []httpapi.Detail{{Message: "Not Found"}}},
		{"unavailable", httpapi.Unavailable(502, "Payment provider unreachable", errors.New("dial tcp: refused")), 502, []httpapi.Detail{{Message: "Payment provider unreachable"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, env := serve(t, slog.New(slog.DiscardHandler), returning(c.err))
			assert.Equal(t, c.status, rec.Code)
			assert.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"))
			assert.Equal(t, c.want, env.Errors)
		})
	}
}

func TestValidationDetailsWithoutFieldOmitTheKey(t *testing.T) {
	rec, _ := serve(t, slog.New(slog.DiscardHandler), returning(httpapi.BadRequest("nope")))
	assert.JSONEq(t, `{"errors":[{"message":"nope"}]}`, rec.Body.String())
}

func TestUnknownErrorIsAnOpaque500AndLogged(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	rec, env := serve(t, log, returning(errors.New("mongo: secret connection string leaked")))
	assert.Equal(t, 500, rec.Code)
	assert.Equal(t, []httpapi.Detail{{Message: "Something went wrong"}}, env.Errors)
	assert.NotContains(t, rec.Body.String(), "secret")
	assert.Contains(t, logs.String(), "secret connection string", "the cause must be logged")
}

func TestPanicBecomesLogged500Envelope(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	rec, env := serve(t, log, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	assert.Equal(t, 500, rec.Code)
	assert.Equal(t, []httpapi.Detail{{Message: "Something went wrong"}}, env.Errors)
	assert.Contains(t, logs.String(), `"panic":"boom"`)
}

func TestNotFoundHandlerAnswers404Envelope(t *testing.T) {
	rec, env := serve(t, slog.New(slog.DiscardHandler), http.HandlerFunc(httpapi.NotFound))
	assert.Equal(t, 404, rec.Code)
	assert.Equal(t, []httpapi.Detail{{Message: "Not Found"}}, env.Errors)
}

func TestWriteJSONSetsStatusAndBody(t *testing.T) {
	rec := httptest.NewRecorder()
	httpapi.WriteJSON(rec, httptest.NewRequest("GET", "/", nil), http.StatusCreated, map[string]string{"id": "1"})
	assert.Equal(t, 201, rec.Code)
	assert.JSONEq(t, `{"id":"1"}`, rec.Body.String())
}

func TestClientDisconnectIsNotLoggedAsAnError(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client went away while the handler waited on the database
	h := httpapi.Middleware(log)(httpapi.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		return fmt.Errorf("finding ticket: %w", context.Canceled)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/tickets", nil).WithContext(ctx))
	assert.NotContains(t, logs.String(), "ERROR")

	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/tickets", nil))
	assert.Contains(t, logs.String(), "ERROR", "a cancellation of our own, with the client still there, is a fault")
}

func TestDeadlineEndsTheRequestsContextInTime(t *testing.T) {
	var left time.Duration
	h := httpapi.Deadline(time.Minute)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, ok := r.Context().Deadline()
		if ok {
			left = time.Until(d)
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	assert.InDelta(t, time.Minute.Seconds(), left.Seconds(), 1)
}

func TestSetPageLinksKeepEveryOtherParameterAndReplaceTheCursor(t *testing.T) {
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/api/things?q=jazz+fest&after=old&limit=5", nil)
	httpapi.SetPageLinks(w, r, "N1", "P1")
	assert.Equal(t, []string{
		`</api/things?after=N1&limit=5&q=jazz+fest>; rel="next"`,
		`</api/things?after=P1&limit=5&q=jazz+fest>; rel="prev"`,
	}, w.Header().Values("Link"))

	w = httptest.NewRecorder()
	httpapi.SetPageLinks(w, r, "", "")
	assert.Empty(t, w.Header().Values("Link"))
}
