package service

import (
	"time"

	"ticketing.dev/common/events"
	"ticketing.dev/common/session"
)

// Sessions is the session manager of a service that checks sessions:
// tokens live ttl (SESSION_TTL; DefaultTTL when zero), and a token signed
// out on any process of any service is refused, as this process learns
// from the session:revoked events on bus (replayed from one ttl back, so
// a restart forgets none that still matter).
func Sessions(bus events.Bus, jwtKey string, cookieSecure bool, ttl time.Duration) (*session.Manager, error) {
	if ttl <= 0 {
		ttl = session.DefaultTTL
	}
	revoked := session.NewRevocations(time.Now)
	if _, err := revoked.Follow(bus, ttl); err != nil {
		return nil, err
	}
	return session.NewManager(jwtKey, cookieSecure, session.WithTTL(ttl), session.WithRevocations(revoked)), nil
}
