package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/idempotency"
	"ticketing.dev/common/session"
	"ticketing.dev/common/validate"
)

// api holds what the handlers share.
type api struct {
	store    *store
	reserver *reserver
	keys     *idempotency.Store
	sessions *session.Manager
	validate *validate.Validator
}

type createRequest struct {
	TicketID string `json:"ticketId" validate:"required,mongodb" msg:"TicketId must be provided"`
}

type ticketJSON struct {
	ID      string  `json:"id"`
	Title   string  `json:"title"`
	Price   float64 `json:"price"`
	Version int64   `json:"version"`
}

type orderJSON struct {
	ID        string             `json:"id"`
	UserID    string             `json:"userId"`
	Status    events.OrderStatus `json:"status"`
	ExpiresAt time.Time          `json:"expiresAt"`
	Version   int64              `json:"version"`
	Ticket    *ticketJSON        `json:"ticket"`
	// Refunded (an addition): the order was cancelled or expired while
	// its payment went through, and the charge was given back.
	Refunded   bool       `json:"refunded,omitempty"`
	RefundedAt *time.Time `json:"refundedAt,omitempty"`
	// CancelledAt and CancelReason ("buyer" or "expired"), additions: when
	// and why a cancelled order ended.
	CancelledAt  *time.Time `json:"cancelledAt,omitempty"`
	CancelReason string     `json:"cancelReason,omitempty"`
}

func toJSON(o order, t ticket, found bool) orderJSON {
	out := orderJSON{ID: o.ID.Hex(), UserID: o.UserID, Status: o.Status, ExpiresAt: o.ExpiresAt, Version: o.Version,
		CancelledAt: o.CancelledAt, CancelReason: o.CancelReason}
	if found {
		out.Ticket = &ticketJSON{ID: t.ID.Hex(), Title: t.Title, Price: t.Price, Version: t.Version}
	}
	return out
}

// withRefund adds the refund of a cancelled order, if there was one.
func (a *api) withRefund(ctx context.Context, o order, out orderJSON) (orderJSON, error) {
	if o.Status != events.StatusCancelled {
		return out, nil
	}
	r, found, err := a.store.RefundOf(ctx, o.ID)
	if err != nil || !found {
		return out, err
	}
	out.Refunded, out.RefundedAt = true, &r.At
	return out, nil
}

func (a *api) create(w http.ResponseWriter, r *http.Request) error {
	user, _ := session.CurrentUser(r.Context())
	var req createRequest
	if err := a.validate.Body(w, r, &req); err != nil {
		return err
	}
	id, _ := primitive.ObjectIDFromHex(req.TicketID) // validated above
	o, t, err := a.reserver.Reserve(r.Context(), user.ID, id)
	if err != nil {
		return httpError(err)
	}
	httpapi.WriteJSON(w, r, http.StatusCreated, toJSON(o, t, true))
	return nil
}

func (a *api) list(w http.ResponseWriter, r *http.Request) error {
	user, _ := session.CurrentUser(r.Context())
	p, paged, err := parseOrderPage(r.URL.Query())
	if err != nil {
		return err
	}
	var orders []order
	if paged {
		var next, prev string
		if orders, next, prev, err = a.store.PageOf(r.Context(), user.ID, p); err != nil {
			return err
		}
		httpapi.SetPageLinks(w, r, next, prev)
	} else if orders, err = a.store.OrdersOf(r.Context(), user.ID); err != nil {
		return err
	}
	out, err := a.ordersJSON(r.Context(), orders)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, r, http.StatusOK, out)
	return nil
}

// ordersJSON shows orders with their tickets and refunds.
func (a *api) ordersJSON(ctx context.Context, orders []order) ([]orderJSON, error) {
	ids := make([]primitive.ObjectID, len(orders))
	for i, o := range orders {
		ids[i] = o.TicketID
	}
	tickets, err := a.store.Tickets(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]orderJSON, len(orders))
	for i, o := range orders {
		t, ok := tickets[o.TicketID]
		if out[i], err = a.withRefund(ctx, o, toJSON(o, t, ok)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ownOrder loads the :id order and checks that the caller owns it.
func (a *api) ownOrder(r *http.Request) (order, error) {
	id, err := primitive.ObjectIDFromHex(chi.URLParam(r, "id"))
	if err != nil {
		return order{}, httpapi.ErrNotFound // a malformed id names no order
	}
	o, err := a.store.Order(r.Context(), id)
	if err != nil {
		return order{}, httpError(err)
	}
	if user, _ := session.CurrentUser(r.Context()); o.UserID != user.ID {
		return order{}, httpapi.ErrNotAuthorized
	}
	return o, nil
}

func (a *api) show(w http.ResponseWriter, r *http.Request) error {
	o, err := a.ownOrder(r)
	if err != nil {
		return err
	}
	t, err := a.store.Ticket(r.Context(), o.TicketID)
	if err != nil && !errors.Is(err, errNoTicket) {
		return err
	}
	out, err := a.withRefund(r.Context(), o, toJSON(o, t, err == nil))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, r, http.StatusOK, out)
	return nil
}

func (a *api) cancel(w http.ResponseWriter, r *http.Request) error {
	o, err := a.ownOrder(r)
	if err != nil {
		return err
	}
	if _, err := a.store.Change(r.Context(), o.ID, cancelOrder); err != nil {
		return httpError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// httpError answers the domain's errors as the API shows them; any other
// error is the server's (a 500).
func httpError(err error) error {
	var tooMany *tooManyOpen
	switch {
	case errors.Is(err, errNoTicket), errors.Is(err, errNoOrder):
		return httpapi.ErrNotFound
	case errors.Is(err, errOwnTicket):
		return httpapi.BadRequest("You cannot buy your own ticket")
	case errors.As(err, &tooMany):
		return httpapi.BadRequest(fmt.Sprintf("You have %d unpaid orders, the most allowed at once: pay for or cancel one of them to reserve another ticket", tooMany.open))
	case errors.Is(err, errReserved):
		return httpapi.BadRequest("Ticket is already reserved")
	case errors.Is(err, errComplete):
		return httpapi.BadRequest("Cannot cancel a complete order")
	case errors.Is(err, errStale):
		return &httpapi.Error{Status: http.StatusConflict, Details: []httpapi.Detail{{Message: "The order was changed meanwhile; try again"}}}
	}
	return err
}
