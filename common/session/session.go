// Package session implements the original's session: a `session` cookie
// holding base64(JSON {"jwt": token}) where the token is an HS256 JWT with
// claims {id, email, iat} signed with JWT_KEY (DESIGN §2).
package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/sessions"

	"ticketing.dev/common/httpapi"
)

// CookieName is the cookie the original's cookie-session used.
const CookieName = "session"

const jwtKey = "jwt"

// User is the signed-in user as carried by the JWT.
type User struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	IssuedAt int64  `json:"iat"`
}

type claims struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	jwt.RegisteredClaims
}

// Manager issues, reads and clears sessions.
type Manager struct {
	store  *Store
	key    []byte
	parser *jwt.Parser
	now    func() time.Time
}

// NewManager signs tokens with key. secure sets the cookie's Secure flag:
// on behind HTTPS, off only for plain-HTTP local runs.
func NewManager(key string, secure bool) *Manager {
	return &Manager{
		store: &Store{Options: sessions.Options{
			Path:     "/",
			HttpOnly: true,
			Secure:   secure,
			SameSite: http.SameSiteLaxMode,
		}},
		key: []byte(key),
		// Pinning HS256 refuses "none" and any algorithm confusion.
		parser: jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()})),
		now:    time.Now,
	}
}

// Token signs a JWT for the user, issued now.
func (m *Manager) Token(id, email string) (string, error) {
	c := claims{ID: id, Email: email, RegisteredClaims: jwt.RegisteredClaims{IssuedAt: jwt.NewNumericDate(m.now())}}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(m.key)
	if err != nil {
		return "", fmt.Errorf("signing session token: %w", err)
	}
	return s, nil
}

// Verify checks the token's algorithm and signature and returns its user.
func (m *Manager) Verify(token string) (User, error) {
	var c claims
	if _, err := m.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return m.key, nil }); err != nil {
		return User{}, fmt.Errorf("session token: %w", err)
	}
	if c.ID == "" || c.Email == "" {
		return User{}, errors.New("session token: missing id or email")
	}
	u := User{ID: c.ID, Email: c.Email}
	if c.IssuedAt != nil {
		u.IssuedAt = c.IssuedAt.Unix()
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
