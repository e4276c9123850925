package session

import (
	"fmt"
	"sync"
	"time"

	"ticketing.dev/common/events"
)

// catchUpWait bounds how long a session check waits for a process that
// has just started to replay the revocations it missed. Replaying takes
// milliseconds; the bound only matters if the bus is stuck.
const catchUpWait = 5 * time.Second

// pruneEvery is how often revocations past their token's expiry are
// dropped from memory.
const pruneEvery = time.Minute

// Revocations is the set of signed-out tokens one process knows of. Each
// process keeps its own, fed by Follow from the session:revoked events of
// the last session TTL, so every replica, and every restart, refuses every
// revoked token that would otherwise still be valid.
type Revocations struct {
	now       func() time.Time
	caughtUp  <-chan struct{}
	mu        sync.Mutex
	revoked   map[string]time.Time // key → when the token expires anyway
	lastPrune time.Time
}

// NewRevocations returns an empty set that is caught up from the start
// (Follow changes that); now is time.Now outside tests.
func NewRevocations(now func() time.Time) *Revocations {
	done := make(chan struct{})
	close(done)
	return &Revocations{now: now, caughtUp: done, revoked: map[string]time.Time{}, lastPrune: now()}
}

// Add records a revocation.
func (r *Revocations) Add(e events.SessionRevoked) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if now.Sub(r.lastPrune) >= pruneEvery {
		for k, until := range r.revoked {
			if !now.Before(until) {
				delete(r.revoked, k)
			}
		}
		r.lastPrune = now
	}
	if now.Before(e.Until) {
		r.revoked[e.Key()] = e.Until
	}
}

// Revoked reports whether the token e describes was signed out. Until the
// replay of past revocations is done (just after Follow) it waits for it,
// at most catchUpWait.
func (r *Revocations) Revoked(e events.SessionRevoked) bool {
	r.mu.Lock()
	caughtUp := r.caughtUp
	r.mu.Unlock()
	select {
	case <-caughtUp:
	default:
		t := time.NewTimer(catchUpWait)
		select {
		case <-caughtUp:
		case <-t.C:
		}
		t.Stop()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.revoked[e.Key()]
	return ok
}

// Follow feeds r from the bus: every session:revoked of the last ttl (the
// longest a revoked token could still be valid), then each new one, on a
// subscription of this process alone. Closing bus ends it.
func (r *Revocations) Follow(bus events.Bus, ttl time.Duration) (events.Subscription, error) {
	sub, caughtUp, err := events.Replay(bus, ttl, r.Add)
	if err != nil {
		return nil, fmt.Errorf("following revoked sessions: %w", err)
	}
	r.mu.Lock()
	r.caughtUp = caughtUp
	r.mu.Unlock()
	return sub, nil
}
