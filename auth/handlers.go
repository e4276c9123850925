package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/session"
	"ticketing.dev/common/validate"
)

// api holds what the handlers share.
type api struct {
	users    *store
	sessions *session.Manager
	validate *validate.Validator
	throttle *throttle
	revoked  *revocations
}

type signupRequest struct {
	Email    string `json:"email" validate:"required,email,max=254" msg:"Email must be valid"`
	Password string `json:"password" validate:"min=8,max=20" msg:"Password must be between 8 and 20 characters"`
}

type signinRequest struct {
	Email    string `json:"email" validate:"required,email,max=254" msg:"Email must be valid"`
	Password string `json:"password" validate:"required" msg:"You must supply a password"`
}

// userJSON is a user as the API shows it: never the password.
type userJSON struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

// normaliseEmail makes "  Bob@Example.COM " and "bob@example.com" one user.
func normaliseEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func (a *api) signup(w http.ResponseWriter, r *http.Request) error {
	var req signupRequest
	if err := validate.Decode(w, r, &req); err != nil {
		return err
	}
	req.Email = normaliseEmail(req.Email)
	if err := a.validate.Struct(&req); err != nil {
		return err
	}
	hash, err := hashPassword(req.Password)
	if err != nil {
		return httpError(err)
	}
	u, err := a.users.Create(r.Context(), req.Email, hash)
	if err != nil {
		return httpError(err)
	}
	if err := a.sessions.SignIn(w, r, u.ID.Hex(), u.Email); err != nil {
		return err
	}
	httpapi.WriteJSON(w, r, http.StatusCreated, userJSON{ID: u.ID.Hex(), Email: u.Email})
	return nil
}

func (a *api) signin(w http.ResponseWriter, r *http.Request) error {
	var req signinRequest
	if err := validate.Decode(w, r, &req); err != nil {
		return err
	}
	req.Email = normaliseEmail(req.Email)
	if err := a.validate.Struct(&req); err != nil {
		return err
	}
	attempt, err := a.throttle.begin(r.Context(), req.Email)
	if locked, ok := errors.AsType[*throttled](err); ok {
		return tooManyFailures(w, locked.retryAfter)
	}
	if err != nil {
		// The server failed, not the guess: the attempt, if recorded, goes.
		_ = a.throttle.forget(context.WithoutCancel(r.Context()), attempt)
		return err
	}
	u, err := checkPassword(r.Context(), a.users, req.Email, req.Password)
	if errors.Is(err, errBadCredentials) {
		return httpError(err) // a failure: the attempt stays recorded
	}
	// Not a failed guess (signed in, or the server failed to tell): the
	// attempt is forgotten, even if the client has gone meanwhile.
	if ferr := a.throttle.forget(context.WithoutCancel(r.Context()), attempt); ferr != nil && err == nil {
		return ferr
	}
	if err != nil {
		return httpError(err)
	}
	if err := a.sessions.SignIn(w, r, u.ID.Hex(), u.Email); err != nil {
		return err
	}
	httpapi.WriteJSON(w, r, http.StatusOK, userJSON{ID: u.ID.Hex(), Email: u.Email})
	return nil
}

// tooManyFailures answers 429 with Retry-After in whole seconds and the
// wait in minutes in the message, both rounded up.
func tooManyFailures(w http.ResponseWriter, retryAfter time.Duration) error {
	secs := max(1, int((retryAfter+time.Second-1)/time.Second))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	mins := (secs + 59) / 60
	return &httpapi.Error{Status: http.StatusTooManyRequests, Details: []httpapi.Detail{{
		Message: fmt.Sprintf("Too many failed sign-ins; try again in %d minutes", mins),
	}}}
}

// signout ends the session on every service: the token is recorded as
// revoked and announced before the cookie is cleared, so a copy of the
// cookie stops working too. A request whose session is invalid or already
// revoked only clears the cookie.
func (a *api) signout(w http.ResponseWriter, r *http.Request) error {
	if u, ok := session.CurrentUser(r.Context()); ok {
		if err := a.revoked.revoke(r.Context(), u.Revocation()); err != nil {
			return err
		}
	}
	if err := a.sessions.SignOut(w, r); err != nil {
		return err
	}
	httpapi.WriteJSON(w, r, http.StatusOK, struct{}{})
	return nil
}

func (a *api) currentUser(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		CurrentUser *session.User `json:"currentUser"`
	}
	if u, ok := session.CurrentUser(r.Context()); ok {
		body.CurrentUser = &u
	}
	httpapi.WriteJSON(w, r, http.StatusOK, body)
	return nil
}

// httpError answers the domain's errors as the API shows them; any other
// error is the server's (a 500). A locked sign-in (*throttled) is answered
// by tooManyFailures, which sets Retry-After.
func httpError(err error) error {
	switch {
	case errors.Is(err, errEmailInUse):
		return httpapi.BadRequest("Email in use")
	case errors.Is(err, errBadCredentials):
		return httpapi.BadRequest("Invalid credentials")
	case errors.Is(err, errPasswordTooLong):
		return httpapi.Validation(httpapi.Detail{Field: "password", Message: "Password must be at most 72 bytes"})
	}
	return err
}
