package session_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testkit"
)

// newClock is a settable time for expiry tests.
func newClock() *testkit.Clock { return testkit.NewClock(time.Unix(1_800_000_000, 0)) }

// payload decodes a JWT's claims without checking them.
func payload(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var p map[string]any
	require.NoError(t, json.Unmarshal(raw, &p))
	return p
}

// nodeToken is a token as the original's auth minted it: {id,email,iat}.
func nodeToken(t *testing.T, iat time.Time) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"id": "u1", "email": "a@b.co", "iat": iat.Unix()}).SignedString([]byte(key))
	require.NoError(t, err)
	return s
}

func TestTokensCarryExpOneTTLAfterIatAndAreRefusedFromThen(t *testing.T) {
	c := newClock()
	m := session.NewManager(key, true, session.WithTTL(time.Hour), session.WithClock(c.Now))
	token, err := m.Token("u1", "a@b.co")
	require.NoError(t, err)
	p := payload(t, token)
	assert.Equal(t, float64(c.Now().Unix()), p["iat"])
	assert.Equal(t, float64(c.Now().Add(time.Hour).Unix()), p["exp"])
	assert.NotEmpty(t, p["jti"])

	c.Advance(59 * time.Minute)
	u, err := m.Verify(token)
	require.NoError(t, err)
	assert.Equal(t, p["exp"], float64(u.ExpiresAt))
	c.Advance(time.Minute)
	_, err = m.Verify(token)
	assert.ErrorIs(t, err, jwt.ErrTokenExpired)
	assert.Equal(t, "none", current(t, m, requestWith(cookieFor(token))), "an expired session is no session")
}

func TestTheDefaultTTLIs24Hours(t *testing.T) {
	c := newClock()
	m := session.NewManager(key, true, session.WithClock(c.Now))
	token, err := m.Token("u1", "a@b.co")
	require.NoError(t, err)
	p := payload(t, token)
	assert.Equal(t, float64(24*3600), p["exp"].(float64)-p["iat"].(float64))
}

func TestTokenWithoutExpIsAcceptedWhileItsIatIsWithinTheTTL(t *testing.T) {
	c := newClock()
	m := session.NewManager(key, true, session.WithTTL(time.Hour), session.WithClock(c.Now))
	token := nodeToken(t, c.Now())

	c.Advance(time.Hour - time.Second)
	u, err := m.Verify(token)
	require.NoError(t, err)
	assert.Equal(t, "u1", u.ID)
	assert.Zero(t, u.ExpiresAt, "the original's token has no exp")
	c.Advance(time.Second)
	_, err = m.Verify(token)
	assert.Error(t, err)
}

func TestTokenWithNeitherExpNorIatIsRefused(t *testing.T) {
	m := session.NewManager(key, true)
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"id": "u1", "email": "a@b.co"}).SignedString([]byte(key))
	require.NoError(t, err)
	_, err = m.Verify(token)
	assert.Error(t, err)
}

func TestRevokedTokenIsRefusedWhileAnotherSessionOfTheUserIsNot(t *testing.T) {
	c := newClock()
	r := session.NewRevocations(c.Now)
	m := session.NewManager(key, true, session.WithClock(c.Now), session.WithRevocations(r))
	laptop, err := m.Token("u1", "a@b.co")
	require.NoError(t, err)
	phone, err := m.Token("u1", "a@b.co") // same user, same second
	require.NoError(t, err)

	u, err := m.Verify(laptop)
	require.NoError(t, err)
	r.Add(u.Revocation())
	_, err = m.Verify(laptop)
	assert.ErrorIs(t, err, session.ErrRevoked)
	_, err = m.Verify(phone)
	assert.NoError(t, err, "signing out one session leaves the others")
}

func TestRevokedTokenWithoutJtiIsRefusedByUserAndIat(t *testing.T) {
	c := newClock()
	r := session.NewRevocations(c.Now)
	m := session.NewManager(key, true, session.WithClock(c.Now), session.WithRevocations(r))
	token := nodeToken(t, c.Now())
	u, err := m.Verify(token)
	require.NoError(t, err)
	rev := u.Revocation()
	assert.Empty(t, rev.TokenID)
	assert.Equal(t, c.Now().Add(session.DefaultTTL), rev.Until, "it would have expired one TTL after iat")
	r.Add(rev)
	_, err = m.Verify(token)
	assert.ErrorIs(t, err, session.ErrRevoked)
	_, err = m.Verify(nodeToken(t, c.Now().Add(time.Second)))
	assert.NoError(t, err, "a token of another iat is another session")
}

// follower is one process's view of the revocations on the bus.
func follower(t *testing.T, s *testkit.Broker) *session.Manager {
	t.Helper()
	r := session.NewRevocations(time.Now)
	sub, err := r.Follow(s.Connect(t), time.Hour)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	return session.NewManager(key, true, session.WithRevocations(r))
}

func TestRevocationsOnTheBusReachEveryProcessAndEveryLaterStart(t *testing.T) {
	testkit.EachBus(t, func(t *testing.T, newBus testkit.NewBus) {
		s := newBus(t)
		issuer := session.NewManager(key, true)
		token, err := issuer.Token("u1", "a@b.co")
		require.NoError(t, err)
		other, err := issuer.Token("u1", "a@b.co")
		require.NoError(t, err)
		u, err := issuer.Verify(token)
		require.NoError(t, err)

		a, b := follower(t, s), follower(t, s)
		_, err = a.Verify(token)
		require.NoError(t, err)
		testkit.Publish(t, s.Connect(t), u.Revocation())
		for name, m := range map[string]*session.Manager{"a": a, "b": b} {
			assert.Eventually(t, func() bool {
				_, err := m.Verify(token)
				return err != nil
			}, 5*time.Second, 10*time.Millisecond, "process %s refuses the signed-out token", name)
		}

		// A process started after the signout refuses the token from its
		// first check on: it replays the revocations before answering.
		restarted := follower(t, s)
		_, err = restarted.Verify(token)
		assert.ErrorIs(t, err, session.ErrRevoked)
		_, err = restarted.Verify(other)
		assert.NoError(t, err)
	})
}

func TestRevocationEventCarriesWhatTheContractNames(t *testing.T) {
	e := events.SessionRevoked{UserID: "u1", IssuedAt: 5, TokenID: "j", Until: time.Unix(10, 0).UTC()}
	b, err := json.Marshal(e)
	require.NoError(t, err)
	assert.JSONEq(t, `{"userId":"u1","iat":5,"jti":"j","until":"1970-01-01T00:00:10Z"}`, string(b))
	assert.Equal(t, events.Subject("session:revoked"), e.Subject())
}
