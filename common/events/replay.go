package events

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// catchUpLimit bounds the wait for the backlog, should the last message
// never come back through the replay (it fell out of the window meanwhile).
const catchUpLimit = 10 * time.Second

// Replay subscribes handle to E's subject for this process alone (not
// durable, no queue group, nothing to ack), starting with every event
// stored during the last `since` and then following new ones. It is for
// state every process keeps in memory and rebuilds on every start, such as
// the revoked sessions.
//
// caughtUp is closed once handle has seen every event that was on the
// subject when Replay was called (the bus's last message then, found by
// Bus.Last), or after catchUpLimit.
func Replay[E Event](bus Bus, since time.Duration, handle func(E)) (sub Subscription, caughtUp <-chan struct{}, err error) {
	subject := SubjectOf[E]()
	start := time.Now()
	from := start.Add(-since)
	c := newCatchUp()
	sub, err = bus.Replay(subject, from, func(m Msg) {
		var e E
		if json.Unmarshal(m.Data, &e) == nil {
			handle(e)
		}
		c.saw(m.Sequence)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("replaying %s: %w", subject, err)
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), catchUpLimit)
		defer cancel()
		last, found, err := bus.Last(ctx, subject)
		// A last message older than the window is not replayed (with a
		// margin, as STAN starts the window a little after start).
		margin := min(time.Second, since/100)
		if err != nil || !found || last.Time.Before(from.Add(margin)) {
			c.done()
			return
		}
		c.until(last.Sequence)
		select {
		case <-c.ch:
		case <-ctx.Done():
			c.done()
		}
	}()
	return sub, c.ch, nil
}

// catchUp closes ch once the replay has seen the target sequence.
type catchUp struct {
	mu     sync.Mutex
	seen   uint64 // highest sequence handled
	target uint64 // 0 until known
	ch     chan struct{}
	once   sync.Once
}

func newCatchUp() *catchUp { return &catchUp{ch: make(chan struct{})} }

func (c *catchUp) saw(seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = max(c.seen, seq)
	if c.target != 0 && c.seen >= c.target {
		c.done()
	}
}

func (c *catchUp) until(seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.target = seq
	if c.seen >= c.target {
		c.done()
	}
}

func (c *catchUp) done() { c.once.Do(func() { close(c.ch) }) }
