package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/session"
	"ticketing.dev/common/validate"
)

// charger takes money: Stripe in production, Stripe's API shape anywhere.
type charger interface {
	Charge(ctx context.Context, cents int64, token, idempotencyKey string) (chargeID string, err error)
}

// api holds what the handlers share.
type api struct {
	store    *store
	charges  charger
	relay    *outbox.Relay
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
	o, err := a.store.Order(r.Context(), orderID)
	switch {
	case errors.Is(err, errNoOrder):
		return httpapi.ErrNotFound
	case err != nil:
		return err
	case o.UserID != user.ID:
		return httpapi.ErrNotAuthorized
	case o.Status == events.StatusCancelled:
		return httpapi.BadRequest("Cannot pay for a cancelled order")
	case o.Status == events.StatusComplete:
		return httpapi.BadRequest("Order has already been paid")
	}

	p, err := a.store.Claim(r.Context(), o.ID)
	switch {
	case errors.Is(err, errPaid):
		return httpapi.BadRequest("Order has already been paid")
	case errors.Is(err, errInProgress):
		return httpapi.BadRequest("A payment for this order is already in progress")
	case err != nil:
		return err
	}

	cents := validate.Price(o.Price).Cents()
	key := fmt.Sprintf("order-%s-attempt-%d", o.ID.Hex(), o.Attempt)
	chargeID, err := a.charges.Charge(r.Context(), cents, req.Token, key)
	var declined errDeclined
	switch {
	case errors.As(err, &declined):
		a.store.Abandon(r.Context(), p)
		if err := a.store.NextAttempt(r.Context(), o.ID); err != nil {
			return err
		}
		return httpapi.BadRequest(declined.msg)
	case err != nil:
		// The outcome is unknown; the next attempt reuses the key, so if
		// this charge went through Stripe returns it instead of charging again.
		a.store.Abandon(r.Context(), p)
		return httpapi.Unavailable(http.StatusBadGateway, "The payment provider could not be reached; please try again", err)
	}

	if err := a.store.Succeed(r.Context(), p, chargeID); err != nil {
		return err
	}
	a.relay.FlushLogged(r.Context(), p.ID)
	httpapi.WriteJSON(w, r, http.StatusCreated, map[string]any{"success": true, "id": p.ID.Hex()})
	return nil
}
