// Package session implements the original's session: a `session` cookie
// holding base64(JSON {"jwt": token}) where the token is an HS256 JWT with
// claims {id, email, iat} signed with JWT_KEY (docs/CONTRACT.md §2). Wave 2 adds
// `exp` and `jti` (additive claims the original ignores) and revocation on
// signout (docs/CONTRACT.md §2a).
package session

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/sessions"

	"ticketing.dev/common/events"
	"ticketing.dev/common/httpapi"
)

// CookieName is the cookie the original's cookie-session used.
const CookieName = "session"

const jwtKey = "jwt"

// DefaultTTL is how long a session lasts (SESSION_TTL).
const DefaultTTL = 24 * time.Hour

// User is the signed-in user as carried by the JWT.
type User struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp,omitempty"`
	// TokenID is the token's jti; empty for the original auth's tokens.
	TokenID string `json:"-"`
	// until is when the token stops being accepted: its exp, or iat plus
	// the TTL for a token without exp.
	until time.Time
}

// Revocation is the event that revokes the token u came from.
func (u User) Revocation() events.SessionRevoked {
	return events.SessionRevoked{UserID: u.ID, IssuedAt: u.IssuedAt, TokenID: u.TokenID, Until: u.until}
}

type claims struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	jwt.RegisteredClaims
}

// ErrRevoked: the token was signed out.
var ErrRevoked = errors.New("session token: signed out")

// Manager issues, reads and clears sessions.
type Manager struct {
	store   *Store
	key     []byte
	parser  *jwt.Parser
	now     func() time.Time
	ttl     time.Duration
	revoked *Revocations
}

// Option configures a Manager.
type Option func(*Manager)

// WithTTL sets how long a session lasts (default DefaultTTL): the exp of
// the tokens it mints, and the age beyond which a token without exp is
// refused.
func WithTTL(ttl time.Duration) Option { return func(m *Manager) { m.ttl = ttl } }

// WithClock replaces time.Now, for tests of expiry.
func WithClock(now func() time.Time) Option { return func(m *Manager) { m.now = now } }

// WithRevocations makes the manager refuse the tokens r holds as revoked.
func WithRevocations(r *Revocations) Option { return func(m *Manager) { m.revoked = r } }

// NewManager signs tokens with key. secure sets the cookie's Secure flag:
// on behind HTTPS, off only for plain-HTTP local runs.
func NewManager(key string, secure bool, opts ...Option) *Manager {
	m := &Manager{
		store: &Store{Options: sessions.Options{
			Path:     "/",
			HttpOnly: true,
			Secure:   secure,
			SameSite: http.SameSiteLaxMode,
		}},
		key: []byte(key),
		now: time.Now,
		ttl: DefaultTTL,
	}
	for _, o := range opts {
		o(m)
	}
	// Pinning HS256 refuses "none" and any algorithm confusion; exp is
	// checked against the manager's clock.
	m.parser = jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithTimeFunc(m.now))
	return m
}

// Token signs a JWT for the user, issued now, expiring after the TTL, with
// a random jti so that signing out revokes this token alone.
func (m *Manager) Token(id, email string) (string, error) {
	now := m.now()
	c := claims{ID: id, Email: email, RegisteredClaims: jwt.RegisteredClaims{
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(m.ttl)),
		ID:        rand.Text(),
	}}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(m.key)
	if err != nil {
		return "", fmt.Errorf("signing session token: %w", err)
	}
	return s, nil
}

// Verify checks the token's algorithm, signature and lifetime, and that it
// was not signed out, and returns its user. A token without exp (minted by
// the original's auth) lives for the TTL from its iat.
func (m *Manager) Verify(token string) (User, error) {
	var c claims
	if _, err := m.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return m.key, nil }); err != nil {
		return User{}, fmt.Errorf("session token: %w", err)
	}
	if c.ID == "" || c.Email == "" {
		return User{}, errors.New("session token: missing id or email")
	}
	u := User{ID: c.ID, Email: c.Email, TokenID: c.RegisteredClaims.ID}
	if c.IssuedAt != nil {
		u.IssuedAt = c.IssuedAt.Unix()
	}
	switch {
	case c.ExpiresAt != nil:
		u.ExpiresAt = c.ExpiresAt.Unix()
		u.until = c.ExpiresAt.Time
	case c.IssuedAt != nil:
		u.until = c.IssuedAt.Add(m.ttl)
		if !m.now().Before(u.until) {
			return User{}, errors.New("session token: issued longer than the session TTL ago")
		}
	default:
		return User{}, errors.New("session token: neither exp nor iat")
	}
	if m.revoked != nil && m.revoked.Revoked(u.Revocation()) {
		return User{}, ErrRevoked
	}
	return u, nil
}

// SignIn issues a token for the user and sets the session cookie.
func (m *Manager) SignIn(w http.ResponseWriter, r *http.Request, id, email string) error {
	token, err := m.Token(id, email)
	if err != nil {
		return err
	}
	sess, _ := m.store.Get(r, CookieName) // a bad old cookie is simply replaced
	sess.Values = map[any]any{jwtKey: token}
	sess.Options.MaxAge = 0
	return m.store.Save(r, w, sess)
}

// SignOut expires the session cookie.
func (m *Manager) SignOut(w http.ResponseWriter, r *http.Request) error {
	sess, _ := m.store.Get(r, CookieName)
	sess.Values = map[any]any{}
	sess.Options.MaxAge = -1
	return m.store.Save(r, w, sess)
}

// Cookie returns the session cookie for a user, as SignIn would set it
// (for clients that sign requests themselves, and for tests).
func (m *Manager) Cookie(id, email string) (*http.Cookie, error) {
	token, err := m.Token(id, email)
	if err != nil {
		return nil, err
	}
	value, err := encode(map[string]any{jwtKey: token})
	if err != nil {
		return nil, err
	}
	return sessions.NewCookie(CookieName, value, &m.store.Options), nil
}

// user reads the current user from the request's cookie.
func (m *Manager) user(r *http.Request) (User, bool) {
	sess, err := m.store.Get(r, CookieName)
	if err != nil {
		return User{}, false
	}
	token, ok := sess.Values[jwtKey].(string)
	if !ok || token == "" {
		return User{}, false
	}
	u, err := m.Verify(token)
	if err != nil {
		return User{}, false
	}
	return u, true
}

type userKey struct{}

// Middleware puts the current user, if the session holds a valid token, in
// the request context. It never rejects a request: RequireAuth does that.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := m.user(r); ok {
			r = r.WithContext(context.WithValue(r.Context(), userKey{}, u))
		}
		next.ServeHTTP(w, r)
	})
}

// CurrentUser returns the user Middleware found, if any.
func CurrentUser(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok
}

// RequireAuth answers 401 "Not authorized" unless Middleware found a user.
func RequireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := CurrentUser(r.Context()); !ok {
			httpapi.WriteError(w, r, httpapi.ErrNotAuthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
