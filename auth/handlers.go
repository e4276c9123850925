package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

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

// bcrypt reads at most 72 bytes; 20 multi-byte characters can exceed that.
const bcryptMaxBytes = 72

func (a *api) signup(w http.ResponseWriter, r *http.Request) error {
	var req signupRequest
	if err := validate.Decode(w, r, &req); err != nil {
		return err
	}
	req.Email = normaliseEmail(req.Email)
	if err := a.validate.Struct(&req); err != nil {
		return err
	}
	if len(req.Password) > bcryptMaxBytes {
		return httpapi.Validation(httpapi.Detail{Field: "password", Message: "Password must be at most 72 bytes"})
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(req.Password), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	u, err := a.users.Create(r.Context(), req.Email, string(hash))
	if errors.Is(err, errEmailInUse) {
		return httpapi.BadRequest("Email in use")
	}
	if err != nil {
		return err
	}
	if err := a.sessions.SignIn(w, r, u.ID.Hex(), u.Email); err != nil {
		return err
	}
	httpapi.WriteJSON(w, r, http.StatusCreated, userJSON{ID: u.ID.Hex(), Email: u.Email})
	return nil
}

// unknownUserHash is compared against when the email is unknown, so both
// failures take one bcrypt's time and do not reveal which emails exist.
const unknownUserHash = "$2a$10$vy4GAjm7YK.JWuxyqMpnlutFlnOislGDTSv/IqlL9e2Kt6zitrJ.O"

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
		return err
	}
	u, err := a.checkPassword(r.Context(), req.Email, req.Password)
	if err != nil {
		return err // a failure: the attempt stays recorded
	}
	if err := a.throttle.forget(r.Context(), attempt); err != nil {
		return err
	}
	if err := a.sessions.SignIn(w, r, u.ID.Hex(), u.Email); err != nil {
		return err
	}
	httpapi.WriteJSON(w, r, http.StatusOK, userJSON{ID: u.ID.Hex(), Email: u.Email})
	return nil
}

// checkPassword returns the user with email if password is theirs, and
// "Invalid credentials" otherwise.
func (a *api) checkPassword(ctx context.Context, email, password string) (user, error) {
	u, err := a.users.ByEmail(ctx, email)
	switch {
	case errors.Is(err, errNoUser):
		_ = bcrypt.CompareHashAndPassword([]byte(unknownUserHash), []byte(password))
		return user{}, httpapi.BadRequest("Invalid credentials")
	case err != nil:
		return user{}, err
	}
	if bcrypt.CompareHashAndPassword([]byte(u.Password), []byte(password)) != nil {
		return user{}, httpapi.BadRequest("Invalid credentials")
	}
	return u, nil
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
