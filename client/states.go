package main

import "time"

// The words pages use for states, in one place: the pages render them and
// live updates (live.go) carry them, so a page says the same thing live
// and after a reload.

var ticketLabels = map[string]string{
	statusAvailable: "Available",
	statusReserved:  "Reserved",
	statusSold:      "Sold",
}

// ticketLabel is a ticket state as the pages word it.
func ticketLabel(state string) string {
	if l, ok := ticketLabels[state]; ok {
		return l
	}
	return state
}

// An order's states as its buyer sees them. The API's four statuses do
// not say why an order was cancelled, nor that a refund followed.
const (
	orderAwaiting  = "awaiting"  // created or awaiting:payment, and still payable
	orderPaid      = "paid"      // complete
	orderExpired   = "expired"   // its time to pay ran out
	orderCancelled = "cancelled" // cancelled by the buyer
	orderRefunded  = "refunded"  // paid too late, and the charge given back
)

var orderLabels = map[string]string{
	orderAwaiting:  "Awaiting payment",
	orderPaid:      "Paid",
	orderExpired:   "Expired",
	orderCancelled: "Cancelled",
	orderRefunded:  "Refunded",
}

// orderLabel is an order state as the pages word it.
func orderLabel(state string) string {
	if l, ok := orderLabels[state]; ok {
		return l
	}
	return state
}

// State is what became of the order at now. An unpaid order past its time
// is expired before orders gets round to cancelling it. A cancelled order
// says why in cancelReason; from an orders service that does not, it
// expired when it was cancelled at or after its expiry (cancelledAt), or,
// without that either, when it is past its time.
func (o order) State(now time.Time) string {
	switch o.Status {
	case "complete":
		return orderPaid
	case "cancelled":
		switch {
		case o.Refunded:
			return orderRefunded
		case o.CancelReason == "expired":
			return orderExpired
		case o.CancelReason == "buyer":
			return orderCancelled
		case o.ExpiresAt.IsZero():
			return orderCancelled
		case o.CancelledAt != nil:
			if o.CancelledAt.Before(o.ExpiresAt) {
				return orderCancelled
			}
			return orderExpired
		case now.Before(o.ExpiresAt):
			return orderCancelled
		}
		return orderExpired
	case "created", "awaiting:payment":
		if o.ExpiresAt.IsZero() || o.Open(now) { // zero: not said, so not past
			return orderAwaiting
		}
		return orderExpired
	}
	return o.Status // a status this client does not know yet: as the API says it
}
