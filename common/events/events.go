// Package events holds the event contract of docs/CONTRACT.md §3: every subject, its
// payload type, and typed publishers and listeners on NATS Streaming.
//
// Each payload type knows its subject, so Publisher[TicketCreated] can only
// publish on "ticket:created" and a Listener[OrderCreated] can only be handed
// a func taking an OrderCreated: a mismatch does not compile.
package events

import "time"

// Subject is a NATS Streaming channel name.
type Subject string

const (
	SubjectTicketCreated      Subject = "ticket:created"
	SubjectTicketUpdated      Subject = "ticket:updated"
	SubjectOrderCreated       Subject = "order:created"
	SubjectOrderCancelled     Subject = "order:cancelled"
	SubjectOrderComplete      Subject = "order:complete"
	SubjectExpirationComplete Subject = "expiration:complete"
	SubjectPaymentCreated     Subject = "payment:created"
	// SubjectPaymentRefunded is an addition beyond the original (whose
	// services never subscribe to it).
	SubjectPaymentRefunded Subject = "payment:refunded"
)

// Event is a payload type bound to its subject.
type Event interface {
	Subject() Subject
	// Key names what the event is about (a ticket, an order): a
	// listener handles events with the same key one at a time, in order,
	// and different keys concurrently.
	Key() string
}

// OrderStatus is the lifecycle state of an order.
type OrderStatus string

const (
	// StatusCreated: reserved, not yet paid; the ticket is held.
	StatusCreated OrderStatus = "created"
	// StatusCancelled: expired or cancelled by its owner; the ticket is free.
	StatusCancelled OrderStatus = "cancelled"
	// StatusAwaitingPayment: a payment is under way. No service sets it
	// (payments announces only the outcome); it is kept as a value of the
	// original's contract, and readers count it as unpaid, like created.
	StatusAwaitingPayment OrderStatus = "awaiting:payment"
	// StatusComplete: paid.
	StatusComplete OrderStatus = "complete"
)

// TicketCreated is published by tickets when a ticket is listed.
type TicketCreated struct {
	ID      string  `json:"id"`
	Version int64   `json:"version"`
	Title   string  `json:"title"`
	Price   float64 `json:"price"`
	UserID  string  `json:"userId"`
}

// TicketUpdated is published by tickets on every change, including the
// reservation lock (OrderID set) and its release (OrderID empty).
type TicketUpdated struct {
	ID      string  `json:"id"`
	Version int64   `json:"version"`
	Title   string  `json:"title"`
	Price   float64 `json:"price"`
	UserID  string  `json:"userId"`
	OrderID string  `json:"orderId,omitempty"`
	// Sold (an addition, docs/CONTRACT.md §3): the order holding it is
	// paid. orderId alone cannot tell a sold ticket from a reserved one,
	// and every tickets process's catalogue (GET /api/tickets?status=)
	// learns the others' writes from these events.
	Sold bool `json:"sold,omitempty"`
}

// OrderTicket is the ticket as order events carry it.
type OrderTicket struct {
	ID    string  `json:"id"`
	Price float64 `json:"price"`
}

// OrderCreated is published by orders when a ticket is reserved.
type OrderCreated struct {
	ID        string      `json:"id"`
	Version   int64       `json:"version"`
	Status    OrderStatus `json:"status"`
	UserID    string      `json:"userId"`
	ExpiresAt time.Time   `json:"expiresAt"`
	Ticket    OrderTicket `json:"ticket"`
}

// OrderCancelledTicket is the ticket as order:cancelled carries it.
type OrderCancelledTicket struct {
	ID string `json:"id"`
}

// OrderCancelled is published by orders when an order is cancelled or expires.
type OrderCancelled struct {
	ID      string               `json:"id"`
	Version int64                `json:"version"`
	Ticket  OrderCancelledTicket `json:"ticket"`
}

// OrderComplete is published by orders when an order is paid.
type OrderComplete struct {
	ID      string      `json:"id"`
	Version int64       `json:"version"`
	Status  OrderStatus `json:"status"`
	Ticket  OrderTicket `json:"ticket"`
}

// ExpirationComplete is published by expiration when an order's window ends.
type ExpirationComplete struct {
	OrderID string `json:"orderId"`
}

// PaymentCreated is published by payments when a charge succeeded.
type PaymentCreated struct {
	ID       string `json:"id"`
	OrderID  string `json:"orderId"`
	StripeID string `json:"stripeId"`
}

// PaymentRefunded is published by payments when a charge for an order that
// was cancelled or expired first has been refunded.
type PaymentRefunded struct {
	ID       string `json:"id"` // the payment
	OrderID  string `json:"orderId"`
	StripeID string `json:"stripeId"`
	RefundID string `json:"refundId"`
}

func (TicketCreated) Subject() Subject      { return SubjectTicketCreated }
func (TicketUpdated) Subject() Subject      { return SubjectTicketUpdated }
func (OrderCreated) Subject() Subject       { return SubjectOrderCreated }
func (OrderCancelled) Subject() Subject     { return SubjectOrderCancelled }
func (OrderComplete) Subject() Subject      { return SubjectOrderComplete }
func (ExpirationComplete) Subject() Subject { return SubjectExpirationComplete }
func (PaymentCreated) Subject() Subject     { return SubjectPaymentCreated }
func (PaymentRefunded) Subject() Subject    { return SubjectPaymentRefunded }

func (e TicketCreated) Key() string      { return e.ID }
func (e TicketUpdated) Key() string      { return e.ID }
func (e OrderCreated) Key() string       { return e.ID }
func (e OrderCancelled) Key() string     { return e.ID }
func (e OrderComplete) Key() string      { return e.ID }
func (e ExpirationComplete) Key() string { return e.OrderID }
func (e PaymentCreated) Key() string     { return e.OrderID }
func (e PaymentRefunded) Key() string    { return e.OrderID }

// SubjectOf returns the subject of event type E.
func SubjectOf[E Event]() Subject {
	var zero E
	return zero.Subject()
}
