package outbox

import (
	"time"

	"ticketing.dev/common/events"
)

// Observer learns what the relay does (package metrics measures it). It is
// called from the relay's workers and sweep, so it must be quick and safe
// for concurrent use.
type Observer interface {
	// Published: the bus stored an event; took is the bus's part, delay
	// the time since its version was claimed.
	Published(subject events.Subject, took, delay time.Duration)
	// PublishFailed: the bus refused an event or did not answer in time;
	// the sweep tries again.
	PublishFailed(subject events.Subject)
	// Backlog: a sweep found pending records, the oldest claimed oldest ago.
	Backlog(pending int, oldest time.Duration)
}

// nopObserver is the observer of a log nobody measures.
type nopObserver struct{}

func (nopObserver) Published(events.Subject, time.Duration, time.Duration) {}
func (nopObserver) PublishFailed(events.Subject)                           {}
func (nopObserver) Backlog(int, time.Duration)                             {}

// Observe makes o the log's observer; call it before Start.
func (l *Log) Observe(o Observer) {
	if o == nil {
		o = nopObserver{}
	}
	l.observer = o
}

// backlog reports what a sweep found to the observer.
func (l *Log) backlog(recs []Record) {
	var oldest time.Duration
	for _, r := range recs {
		if age := l.now().Sub(r.At); age > oldest {
			oldest = age
		}
	}
	l.observer.Backlog(len(recs), oldest)
}
