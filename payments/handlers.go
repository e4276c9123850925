package main

import (
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
