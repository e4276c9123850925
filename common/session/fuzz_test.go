package session_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"ticketing.dev/common/session"
)

// fuzzKey signs the tokens the reader may accept; otherKey signs forgeries.
const (
	fuzzKey  = "fuzz-key"
	otherKey = "not-the-key"
)

// readUser runs the session reader (Middleware) on a request carrying the
// raw Cookie header, and returns the user it found.
func readUser(m *session.Manager, cookieHeader string) (session.User, bool) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Cookie", cookieHeader)
	var u session.User
	var ok bool
	m.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		u, ok = session.CurrentUser(r.Context())
	})).ServeHTTP(httptest.NewRecorder(), r)
	return u, ok
}

// signedClaims is the payload of the session cookie's JWT if, decoded any
// way the cookie format allows, it names HS256 and carries HMAC-SHA256 of
// its first two parts under fuzzKey: checked here without the jwt package,
// so a flaw in how the reader uses it cannot hide.
func signedClaims(cookieHeader string) (map[string]any, bool) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Cookie", cookieHeader)
	c, err := r.Cookie(session.CookieName)
	if err != nil {
		return nil, false
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(c.Value)
		if err != nil {
			continue
		}
		var values map[string]any
		if json.Unmarshal(b, &values) != nil {
			continue
		}
		token, _ := values["jwt"].(string)
		if claims, ok := verifyHS256(token); ok {
			return claims, true
		}
	}
	return nil, false
}

func verifyHS256(token string) (map[string]any, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, false
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(segment(parts[0]), &header) != nil || header.Alg != "HS256" {
		return nil, false
	}
	mac := hmac.New(sha256.New, []byte(fuzzKey))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(segment(parts[2]), mac.Sum(nil)) {
		return nil, false
	}
	var claims map[string]any
	if json.Unmarshal(segment(parts[1]), &claims) != nil {
		return nil, false
	}
	return claims, true
}

// segment decodes a JWT part, padded or not.
func segment(s string) []byte {
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b
	}
	b, _ := base64.URLEncoding.DecodeString(s)
	return b
}

// mint signs a session token as auth does (iat now, exp in an hour) and
// wraps it in the cookie's format, base64(JSON {"jwt": token}).
func mint(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	token, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{"jwt": token})
	return "session=" + base64.StdEncoding.EncodeToString(b)
}

func userClaims(id, email string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"id": id, "email": email, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// FuzzSessionCookie: the reader never panics and never accepts a token that
// is not HS256-signed with the key, whatever the Cookie header holds; and a
// token signed with the key for any id and email reads back as that user,
// while the same claims under another key are refused.
func FuzzSessionCookie(f *testing.F) {
	valid := mint(f, jwt.SigningMethodHS256, []byte(fuzzKey), userClaims("abc", "a@b.co"))
	f.Add(valid, "abc", "a@b.co")
	f.Add(strings.TrimRight(valid, "="), "id", "e@x") // unpadded base64, as Node writes it
	f.Add(valid+"; session=x; other=1", "1", "x")     // the first session cookie counts
	f.Add(mint(f, jwt.SigningMethodHS256, []byte(otherKey), userClaims("abc", "a@b.co")), "abc", "a@b.co")
	f.Add(mint(f, jwt.SigningMethodHS512, []byte(fuzzKey), userClaims("abc", "a@b.co")), "abc", "a@b.co")
	f.Add(mint(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, userClaims("abc", "a@b.co")), "", "")
	f.Add("session=eyJqd3QiOiJ4In0=", "ü", "\u202e@b.co")
	f.Add("session=not base64!", "a", "b")

	m := session.NewManager(fuzzKey, true)
	f.Fuzz(func(t *testing.T, cookieHeader, id, email string) {
		if u, ok := readUser(m, cookieHeader); ok {
			claims, signed := signedClaims(cookieHeader)
			if !signed {
				t.Fatalf("accepted a token not HS256-signed with the key: Cookie %q → %+v", cookieHeader, u)
			}
			if claims["id"] != u.ID || claims["email"] != u.Email {
				t.Fatalf("Cookie %q: user %+v is not the signed claims %v", cookieHeader, u, claims)
			}
		}

		// Round trip for any id and email a JWT can carry unchanged.
		if id == "" || email == "" || !utf8.ValidString(id) || !utf8.ValidString(email) {
			return
		}
		claims := userClaims(id, email)
		if u, ok := readUser(m, mint(t, jwt.SigningMethodHS256, []byte(fuzzKey), claims)); !ok || u.ID != id || u.Email != email {
			t.Fatalf("a token signed with the key for %q %q read as %+v, %v", id, email, u, ok)
		}
		if u, ok := readUser(m, mint(t, jwt.SigningMethodHS256, []byte(otherKey), claims)); ok {
			t.Fatalf("a token signed with another key was accepted as %+v", u)
		}
	})
}
