package main

import (
	"errors"
	"net/http"

	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/idempotency"
	"ticketing.dev/common/session"
	"ticketing.dev/common/validate"
)

// api holds what the handlers share.
type api struct {
	payer    *payer
	keys     *idempotency.Store
	sessions *session.Manager
	validate *validate.Validator
}

type createRequest struct {
	Token   string `json:"token" validate:"required,max=255" msg:"Token is required"`
	OrderID string `json:"orderId" validate:"required,mongodb" msg:"OrderId must be provided"`
}

func (a *api) create(w http.ResponseWriter, r *http.Request) error {
	user, _ := session.CurrentUser(r.Context())
	var req createRequest
	if err := a.validate.Body(w, r, &req); err != nil {
		return err
	}
	orderID, _ := primitive.ObjectIDFromHex(req.OrderID) // validated above
	p, err := a.payer.Pay(r.Context(), user.ID, orderID, req.Token)
	if err != nil {
		return httpError(err)
	}
	httpapi.WriteJSON(w, r, http.StatusCreated, map[string]any{"success": true, "id": p.ID.Hex()})
	return nil
}

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
