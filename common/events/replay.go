package events

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/stan.go"
)

// emptyChannelWait is how long Replay waits for the channel's last
// message before taking the channel to be empty. The server sends it
// right after confirming the subscription, so this is only ever waited
// out in full on an empty channel.
const emptyChannelWait = 200 * time.Millisecond

// catchUpLimit bounds the wait for the backlog, should the last message
// never come back through the replay (it fell out of the window meanwhile).
const catchUpLimit = 10 * time.Second

// Replay subscribes handle to E's subject for this process alone (not
// durable, no queue group, acked on receipt), starting with every event
// stored during the last `since` and then following new ones. It is for
// state every process keeps in memory and rebuilds on every start, such as
// the revoked sessions.
//
// caughtUp is closed once handle has seen every event that was on the
// channel when Replay was called (found by a second, short-lived
// subscription to the channel's last message), or after catchUpLimit.
func Replay[E Event](conn stan.Conn, since time.Duration, handle func(E)) (sub stan.Subscription, caughtUp <-chan struct{}, err error) {
	subject := SubjectOf[E]()
	start := time.Now()
	c := newCatchUp()
	sub, err = conn.Subscribe(string(subject), func(m *stan.Msg) {
		var e E
		if json.Unmarshal(m.Data, &e) == nil {
			handle(e)
		}
		c.saw(m.Sequence)
	}, stan.StartAtTimeDelta(since))
	if err != nil {
		return nil, nil, fmt.Errorf("replaying %s: %w", subject, err)
	}
	last := make(chan *stan.Msg, 1)
	probe, err := conn.Subscribe(string(subject), func(m *stan.Msg) {
		select {
		case last <- m:
		default:
		}
	}, stan.StartWithLastReceived())
	if err != nil {
		_ = sub.Close()
		return nil, nil, fmt.Errorf("finding the last %s: %w", subject, err)
	}
	go func() {
		defer probe.Close()
		select {
		case m := <-last:
			// A last message older than the window is not replayed (with
			// a margin, as the server starts the window a little after
			// start).
			margin := min(time.Second, since/100)
			if time.Unix(0, m.Timestamp).Before(start.Add(-since).Add(margin)) {
				c.done()
				return
			}
			c.until(m.Sequence)
		case <-time.After(emptyChannelWait):
			c.done()
			return
		}
		select {
		case <-c.ch:
		case <-time.After(catchUpLimit):
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
