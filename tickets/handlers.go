package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/idempotency"
	"ticketing.dev/common/session"
	"ticketing.dev/common/validate"
)

// api holds what the handlers share.
type api struct {
	store    *store
	keys     *idempotency.Store
	sessions *session.Manager
	validate *validate.Validator
}

// Titles and prices follow common/validate's rules (docs/CONTRACT.md §2a): a Title
// arrives trimmed and checked for its characters, a Price in whole cents
// within the bounds; the lengths below apply to the trimmed title.
type createRequest struct {
	Title validate.Title `json:"title" validate:"required,min=3,max=200" msg:"Title must be 3 to 200 characters"`
	Price validate.Price `json:"price" validate:"price"`
}

type updateRequest struct {
	Title validate.Title `json:"title" validate:"required,max=200" msg:"Title is required (at most 200 characters)"`
	Price validate.Price `json:"price" validate:"price"`
}

// ticketJSON is a ticket as the API shows it; orderId only while reserved.
type ticketJSON struct {
	ID      string  `json:"id"`
	Title   string  `json:"title"`
	Price   float64 `json:"price"`
	UserID  string  `json:"userId"`
	Version int64   `json:"version"`
	OrderID string  `json:"orderId,omitempty"`
	// Status is an addition (extra fields are allowed): "available",
	// "reserved" or "sold".
	Status string `json:"status"`
}

func toJSON(t ticket) ticketJSON {
	return ticketJSON{ID: t.ID.Hex(), Title: t.Title, Price: t.Price, UserID: t.UserID, Version: t.Version, OrderID: t.OrderID, Status: t.status()}
}

func (a *api) create(w http.ResponseWriter, r *http.Request) error {
	user, _ := session.CurrentUser(r.Context())
	var req createRequest
	if err := a.validate.Body(w, r, &req); err != nil {
		return err
	}
	t, err := a.store.Create(r.Context(), string(req.Title), float64(req.Price), user.ID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, r, http.StatusCreated, toJSON(t))
	return nil
}

func (a *api) list(w http.ResponseWriter, r *http.Request) error {
	p, err := parsePage(r.URL.Query())
	if err != nil {
		return err
	}
	ts, more, err := a.store.Page(r.Context(), p)
	if err != nil {
		return err
	}
	out := make([]ticketJSON, len(ts))
	for i, t := range ts {
		out[i] = toJSON(t)
	}
	if more {
		setNextLink(w, p.limit, ts[len(ts)-1])
	}
	httpapi.WriteJSON(w, r, http.StatusOK, out)
	return nil
}

// parsePage reads limit and after; anything else than a whole number from
// 1 to maxPageSize, or an after that is not a ticket id, is a 400.
func parsePage(q url.Values) (pageQuery, error) {
	var p pageQuery
	var bad []httpapi.Detail
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > maxPageSize || len(v) > 1 {
			bad = append(bad, httpapi.Detail{Message: fmt.Sprintf("limit must be a whole number from 1 to %d", maxPageSize), Field: "limit"})
		}
		p.limit = n
	}
	if v, ok := q["after"]; ok {
		id, err := primitive.ObjectIDFromHex(v[0])
		if err != nil || len(v) > 1 {
			bad = append(bad, httpapi.Detail{Message: "after must be the id of a ticket", Field: "after"})
		}
		p.after = id
	}
	if bad != nil {
		return pageQuery{}, httpapi.Validation(bad...)
	}
	return p, nil
}

// setNextLink announces the next page (RFC 8288).
func setNextLink(w http.ResponseWriter, limit int, last ticket) {
	q := url.Values{"limit": {strconv.Itoa(limit)}, "after": {last.ID.Hex()}}
	w.Header().Set("Link", fmt.Sprintf(`</api/tickets?%s>; rel="next"`, q.Encode()))
}

// ticketID parses the :id route parameter; a malformed id cannot name a
// ticket, so it is a 404 like an unknown one.
func ticketID(r *http.Request) (primitive.ObjectID, error) {
	id, err := primitive.ObjectIDFromHex(chi.URLParam(r, "id"))
	if err != nil {
		return id, httpapi.ErrNotFound
	}
	return id, nil
}

func (a *api) show(w http.ResponseWriter, r *http.Request) error {
	id, err := ticketID(r)
	if err != nil {
		return err
	}
	t, err := a.store.Get(r.Context(), id)
	if err != nil {
		return httpError(err)
	}
	httpapi.WriteJSON(w, r, http.StatusOK, toJSON(t))
	return nil
}

func (a *api) update(w http.ResponseWriter, r *http.Request) error {
	user, _ := session.CurrentUser(r.Context())
	var req updateRequest
	if err := a.validate.Body(w, r, &req); err != nil {
		return err
	}
	id, err := ticketID(r)
	if err != nil {
		return err
	}
	t, err := a.store.Change(r.Context(), id, edit(user.ID, string(req.Title), float64(req.Price)))
	if err != nil {
		return httpError(err)
	}
	httpapi.WriteJSON(w, r, http.StatusOK, toJSON(t))
	return nil
}

// httpError answers the domain's errors as the API shows them; any other
// error is the server's (a 500).
func httpError(err error) error {
	switch {
	case errors.Is(err, errNoTicket):
		return httpapi.ErrNotFound
	case errors.Is(err, errNotOwner):
		return httpapi.ErrNotAuthorized
	case errors.Is(err, errReserved):
		return httpapi.BadRequest("Cannot edit a reserved ticket")
	case errors.Is(err, errStale):
		return &httpapi.Error{Status: http.StatusConflict, Details: []httpapi.Detail{{Message: "The ticket was changed meanwhile; try again"}}}
	}
	return err
}
