package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
)

type envelope struct {
	Errors []Detail `json:"errors"`
}

// WriteJSON writes v as the JSON body with the given status.
func WriteJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		// The status is already sent; all that is left is to say so.
		Logger(r.Context()).Warn("writing response", "err", err)
	}
}

// WriteError answers with err's envelope and status. Errors that are not
// *Error become a 500 "Something went wrong"; server faults are logged with
// their cause and never shown to the client.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	if ClientGone(r) {
		// Nobody is left to read an answer, and what failed was most
		// likely cut short by the client leaving, not broken on our side.
		Logger(r.Context()).Info("client went away", "method", r.Method, "path", r.URL.Path, "err", err)
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		e = Internal(err)
	}
	if e.Status >= http.StatusInternalServerError {
		Logger(r.Context()).Error("request failed",
			"method", r.Method, "path", r.URL.Path, "status", e.Status, "err", err)
	}
	WriteJSON(w, r, e.Status, envelope{Errors: e.Details})
}

// ClientGone reports whether the client closed its connection before the
// answer (the server cancels the request's context then): what failed
// after that is not a server fault worth an ERROR line.
func ClientGone(r *http.Request) bool {
	return errors.Is(r.Context().Err(), context.Canceled)
}

// HandlerFunc is an http.Handler that returns its error for WriteError to
// answer, so handlers read as straight-line code.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := f(w, r); err != nil {
		WriteError(w, r, err)
	}
}

// NotFound answers every request with the 404 envelope; mount it as the
// router's NotFound and MethodNotAllowed handler (the original answered
// both with 404).
func NotFound(w http.ResponseWriter, r *http.Request) {
	WriteError(w, r, ErrNotFound)
}

// discard is the logger used when none was put in the context.
var discard = slog.New(slog.DiscardHandler)
