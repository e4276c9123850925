// Package httpapi holds the HTTP conventions every service shares (docs/CONTRACT.md §2):
// typed errors, the {"errors":[…]} envelope, JSON responses and the
// middleware that turns panics and unknown routes into envelopes.
package httpapi

import (
	"fmt"
	"net/http"
	"strings"
)

// Detail is one entry of the error envelope. Field is set only for
// validation errors.
type Detail struct {
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Error is an error the client is meant to see: a status and its messages.
// Any other error reaching the writer is internal and becomes a 500.
type Error struct {
	Status  int
	Details []Detail
	// Cause is logged, never sent (for example the network error behind a 502).
	Cause error
}

func (e *Error) Error() string {
	msgs := make([]string, len(e.Details))
	for i, d := range e.Details {
		msgs[i] = d.Message
		if d.Field != "" {
			msgs[i] = d.Field + ": " + d.Message
		}
	}
	s := fmt.Sprintf("%d %s", e.Status, strings.Join(msgs, "; "))
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Cause }

// The two errors whose messages the contract fixes.
var (
	ErrNotAuthorized = &Error{Status: http.StatusUnauthorized, Details: []Detail{{Message: "Not authorized"}}}
	ErrNotFound      = &Error{Status: http.StatusNotFound, Details: []Detail{{Message: "Not Found"}}}
)

// BadRequest is a 400 for a broken business rule, e.g. "Email in use".
func BadRequest(message string) *Error {
	return &Error{Status: http.StatusBadRequest, Details: []Detail{{Message: message}}}
}

// Validation is a 400 listing what is wrong with each field.
func Validation(fields ...Detail) *Error {
	return &Error{Status: http.StatusBadRequest, Details: fields}
}

// Unavailable is a 5xx the client may see the message of, for a dependency
// outside the service that failed (the cause is logged, not sent).
func Unavailable(status int, message string, cause error) *Error {
	return &Error{Status: status, Details: []Detail{{Message: message}}, Cause: cause}
}

// Internal marks err as a server fault: logged in full, answered with the
// contract's opaque 500. Any error that is not an *Error is treated the same.
func Internal(err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Details: []Detail{{Message: internalMessage}}, Cause: err}
}

const internalMessage = "Something went wrong"
