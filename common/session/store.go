package session

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/sessions"
)

// Store is a gorilla/sessions Store for the cookie format of the original's
// cookie-session (signed: false): the cookie value is base64(JSON of the
// session's values). Integrity comes from the JWT inside, not the cookie.
type Store struct {
	Options sessions.Options
}

var _ sessions.Store = (*Store)(nil)

// Get returns the request's session, decoding the cookie once per request.
func (s *Store) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New decodes the named cookie into a session. A missing or undecodable
// cookie gives a new, empty session; the error says which.
func (s *Store) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	opts := s.Options
	sess.Options = &opts
	sess.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	values, err := decode(c.Value)
	if err != nil {
		return sess, fmt.Errorf("session cookie: %w", err)
	}
	for k, v := range values {
		sess.Values[k] = v
	}
	sess.IsNew = false
	return sess, nil
}

// Save writes the session as a cookie, or expires the cookie when the
// session's MaxAge is negative.
func (s *Store) Save(_ *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if sess.Options.MaxAge < 0 {
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	values := make(map[string]any, len(sess.Values))
	for k, v := range sess.Values {
		key, ok := k.(string)
		if !ok {
			return fmt.Errorf("session key %v: only string keys can be stored", k)
		}
		values[key] = v
	}
	value, err := encode(values)
	if err != nil {
		return err
	}
	http.SetCookie(w, sessions.NewCookie(sess.Name(), value, sess.Options))
	return nil
}

func encode(values map[string]any) (string, error) {
	b, err := json.Marshal(values)
	if err != nil {
		return "", fmt.Errorf("encoding session: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// decode accepts padded and unpadded, standard and URL-safe base64, as
// Node's Buffer does.
func decode(value string) (map[string]any, error) {
	var b []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err = enc.DecodeString(value); err == nil {
			break
		}
	}
	if err != nil {
		return nil, errors.New("not base64")
	}
	var values map[string]any
	if err := json.Unmarshal(b, &values); err != nil {
		return nil, errors.New("not a JSON object")
	}
	return values, nil
}
