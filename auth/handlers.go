package main

import (
	"errors"
	"net/http"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/session"
	"ticketing.dev/common/validate"
)

// api holds what the handlers share.
type api struct {
	users    *userStore
	sessions *session.Manager
	validate *validate.Validator
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
	u, err := a.users.ByEmail(r.Context(), req.Email)
	switch {
	case errors.Is(err, errNoUser):
		_ = bcrypt.CompareHashAndPassword([]byte(unknownUserHash), []byte(req.Password))
		return httpapi.BadRequest("Invalid credentials")
	case err != nil:
		return err
	}
	if bcrypt.CompareHashAndPassword([]byte(u.Password), []byte(req.Password)) != nil {
		return httpapi.BadRequest("Invalid credentials")
	}
	if err := a.sessions.SignIn(w, r, u.ID.Hex(), u.Email); err != nil {
		return err
	}
	httpapi.WriteJSON(w, r, http.StatusOK, userJSON{ID: u.ID.Hex(), Email: u.Email})
	return nil
}

func (a *api) signout(w http.ResponseWriter, r *http.Request) error {
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
