package main

import (
	"errors"
	"net/http"

	"ticketing.dev/common/httpapi"
)

// Payments' errors, and how the API answers each (httpError).
var (
	errNoOrder    = errors.New("no such order")
	errPaid       = errors.New("order already paid")
	errInProgress = errors.New("a payment for this order is in progress")
	errNotOwner   = errors.New("order belongs to another user")
	errCancelled  = errors.New("order is cancelled")
	// errRefunded: the order was cancelled (or expired) while it was being
	// paid; the charge was refunded.
	errRefunded = errors.New("order was cancelled while paying; the charge was refunded")
	// errRefundPending: as errRefunded, but the refund has not gone
	// through yet; payments' order:cancelled listener retries it.
	errRefundPending = errors.New("order was cancelled while paying; the charge will be refunded")
	// errRefundBusy: another process is asking Stripe for this refund.
	errRefundBusy = errors.New("refund in progress in another process")
	// errUnknownOutcome: Stripe could not be reached; the attempt is
	// uncertain, and a retry repeats its charge.
	errUnknownOutcome = errors.New("payment provider unreachable")
)

// errDeclined wraps Stripe's definitive refusals (card declined, invalid
// request): nothing was charged and the message is meant for the user.
// A conflict on the idempotency key (409: the first request with it is
// still running; idempotency_error: it ran with other parameters) is no
// refusal: what that request did is unknown.
type errDeclined struct{ msg string }

func (e errDeclined) Error() string { return e.msg }

// httpError answers the domain's errors as the API shows them; any other
// error is the server's (a 500).
func httpError(err error) error {
	var declined errDeclined
	switch {
	case errors.Is(err, errNoOrder):
		return httpapi.ErrNotFound
	case errors.Is(err, errNotOwner):
		return httpapi.ErrNotAuthorized
	case errors.Is(err, errCancelled):
		return httpapi.BadRequest("Cannot pay for a cancelled order")
	case errors.Is(err, errRefunded):
		return httpapi.BadRequest("Cannot pay for a cancelled order: it was cancelled or expired while paying, and the charge was refunded")
	case errors.Is(err, errRefundPending):
		return httpapi.BadRequest("Cannot pay for a cancelled order: it was cancelled or expired while paying, and the charge is being refunded")
	case errors.Is(err, errPaid):
		return httpapi.BadRequest("Order has already been paid")
	case errors.Is(err, errInProgress):
		return httpapi.BadRequest("A payment for this order is already in progress")
	case errors.As(err, &declined):
		return httpapi.BadRequest(declined.msg)
	case errors.Is(err, errUnknownOutcome):
		return httpapi.Unavailable(http.StatusBadGateway, "The payment provider could not be reached; please try again", err)
	}
	return err
}
