package main

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

var (
	// errBadCredentials: no user has that email, or that is not their
	// password; which of the two is not told.
	errBadCredentials  = errors.New("invalid credentials")
	errPasswordTooLong = errors.New("password longer than bcrypt reads")
)

// bcrypt reads at most 72 bytes; 20 multi-byte characters can exceed that.
const bcryptMaxBytes = 72

// hashPassword is the bcrypt hash stored for password, or
// errPasswordTooLong past what bcrypt reads.
func hashPassword(password string) (string, error) {
	if len(password) > bcryptMaxBytes {
		return "", errPasswordTooLong
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hashing password: %w", err)
	}
	return string(hash), nil
}

// unknownUserHash is compared against when the email is unknown, so both
// failures take one bcrypt's time and do not reveal which emails exist.
const unknownUserHash = "$2a$10$vy4GAjm7YK.JWuxyqMpnlutFlnOislGDTSv/IqlL9e2Kt6zitrJ.O"

// checkPassword returns the user with email if password is theirs, and
// errBadCredentials otherwise.
func checkPassword(ctx context.Context, users *store, email, password string) (user, error) {
	u, err := users.ByEmail(ctx, email)
	switch {
	case errors.Is(err, errNoUser):
		_ = bcrypt.CompareHashAndPassword([]byte(unknownUserHash), []byte(password))
		return user{}, errBadCredentials
	case err != nil:
		return user{}, err
	}
	if bcrypt.CompareHashAndPassword([]byte(u.Password), []byte(password)) != nil {
		return user{}, errBadCredentials
	}
	return u, nil
}
