package events

import (
	"encoding/json"
	"fmt"
	"time"
)

// Outcome is how the handling of one delivery ended.
type Outcome string

const (
	// OutcomeAcked: handled (or already applied) and acked.
	OutcomeAcked Outcome = "acked"
	// OutcomeRetried: the handler failed; the bus redelivers it after the ack wait.
	OutcomeRetried Outcome = "retried"
	// OutcomeParked: failed MaxDeliveries times, kept as a dead letter and acked.
	OutcomeParked Outcome = "parked"
	// OutcomeDropped: the payload could not be decoded, so it was acked unhandled.
	OutcomeDropped Outcome = "dropped"
)

// Handled describes one delivery a listener finished with, for metrics.
type Handled struct {
	Subject    Subject
	QueueGroup string
	Outcome    Outcome
	// Took is how long the handler ran.
	Took time.Duration
	// Lag is how long the event waited on the bus before this delivery
	// was handled (from when the server stored it).
	Lag time.Duration
	// Redelivered: the bus had delivered this message before.
	Redelivered bool
}

// Observer learns how each delivery ended (package metrics counts them).
// It is called on the listener's workers, so it must be quick and safe for
// concurrent use.
type Observer interface {
	EventHandled(Handled)
}

// versioned events carry their aggregate's version.
type versioned interface{ eventVersion() int64 }

func (e TicketCreated) eventVersion() int64  { return e.Version }
func (e TicketUpdated) eventVersion() int64  { return e.Version }
func (e OrderCreated) eventVersion() int64   { return e.Version }
func (e OrderCancelled) eventVersion() int64 { return e.Version }
func (e OrderComplete) eventVersion() int64  { return e.Version }

// ID names an event for the logs: its subject, its key (the ticket or order
// it is about) and, where it has one, the aggregate's version, e.g.
// "order:created/6651…/v0". A redelivery has the same id.
func ID(e Event) string {
	if v, ok := e.(versioned); ok {
		return fmt.Sprintf("%s/%s/v%d", e.Subject(), e.Key(), v.eventVersion())
	}
	return fmt.Sprintf("%s/%s", e.Subject(), e.Key())
}

// IDOf is ID of the event encoded in data on subject, for relays that hold
// an event as its subject and payload (packages outbox, deadletter).
func IDOf(subject Subject, data []byte) (string, error) {
	switch subject {
	case SubjectTicketCreated:
		return idOf[TicketCreated](data)
	case SubjectTicketUpdated:
		return idOf[TicketUpdated](data)
	case SubjectOrderCreated:
		return idOf[OrderCreated](data)
	case SubjectOrderCancelled:
		return idOf[OrderCancelled](data)
	case SubjectOrderComplete:
		return idOf[OrderComplete](data)
	case SubjectExpirationComplete:
		return idOf[ExpirationComplete](data)
	case SubjectPaymentCreated:
		return idOf[PaymentCreated](data)
	case SubjectPaymentRefunded:
		return idOf[PaymentRefunded](data)
	case SubjectSessionRevoked:
		return idOf[SessionRevoked](data)
	}
	return "", fmt.Errorf("no event type for subject %q", subject)
}

func idOf[E Event](data []byte) (string, error) {
	var e E
	if err := json.Unmarshal(data, &e); err != nil {
		return "", fmt.Errorf("decoding %s: %w", SubjectOf[E](), err)
	}
	return ID(e), nil
}
