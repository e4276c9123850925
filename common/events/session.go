package events

import (
	"strconv"
	"time"
)

// SubjectSessionRevoked is an addition beyond the original (docs/CONTRACT.md §2a):
// auth publishes it when a session is signed out, so that every process
// that checks sessions refuses that token from then on. The original's
// services never subscribe to it, so it does not disturb them.
const SubjectSessionRevoked Subject = "session:revoked"

// SessionRevoked names one revoked session token: by its jti when it has
// one, otherwise (a token minted by the original's auth) by its user and
// iat. Until is when the token would have expired anyway; after it the
// revocation can be forgotten.
type SessionRevoked struct {
	UserID   string    `json:"userId"`
	IssuedAt int64     `json:"iat"`
	TokenID  string    `json:"jti,omitempty"`
	Until    time.Time `json:"until"`
}

func (SessionRevoked) Subject() Subject { return SubjectSessionRevoked }

// Key names the revoked token: its jti, or its user and iat for a token
// without one.
func (e SessionRevoked) Key() string {
	if e.TokenID != "" {
		return "jti/" + e.TokenID
	}
	return "iat/" + e.UserID + "/" + strconv.FormatInt(e.IssuedAt, 10)
}
