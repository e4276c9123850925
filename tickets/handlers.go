package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/idempotency"
	"ticketing.dev/common/session"
	"ticketing.dev/common/validate"
	"ticketing.dev/tickets/catalog"
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

func itemJSON(it catalog.Item) ticketJSON {
	return ticketJSON{ID: it.ID.Hex(), Title: it.Title, Price: it.Price, UserID: it.UserID, Version: it.Version, OrderID: it.OrderID, Status: it.Status().String()}
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

// list answers the catalogue's queries (docs/CONTRACT.md §2b) from the
// process's catalog. Without any query parameter it is the original's
// answer, every ticket oldest first, streamed from a snapshot.
func (a *api) list(w http.ResponseWriter, r *http.Request) error {
	if catalog.Unpaged(r.URL.Query()) {
		a.stream(w, r)
		return nil
	}
	user, _ := session.CurrentUser(r.Context())
	q, err := catalog.ParseQuery(r.URL.Query(), user.ID)
	if err != nil {
		return queryError(err)
	}
	page, err := a.store.catalog.Find(q)
	if err != nil {
		return queryError(err)
	}
	out := make([]ticketJSON, len(page.Items))
	for i, it := range page.Items {
		out[i] = itemJSON(it)
	}
	httpapi.SetPageLinks(w, r, page.Next, page.Prev)
	httpapi.WriteJSON(w, r, http.StatusOK, out)
	return nil
}

// stream writes every ticket as one JSON array, oldest first, a ticket at a
// time: the answer's memory and the catalog's lock do not grow with it.
func (a *api) stream(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	sep := byte('[')
	for it := range a.store.catalog.All() {
		b, err := json.Marshal(itemJSON(it))
		if err != nil {
			httpapi.Logger(r.Context()).Error("encoding a ticket", "id", it.ID.Hex(), "err", err)
			continue
		}
		bw.WriteByte(sep)
		sep = ','
		if _, err := bw.Write(b); err != nil {
			return // the client went away
		}
	}
	if sep == '[' {
		bw.WriteByte('[')
	}
	bw.WriteString("]\n")
	_ = bw.Flush()
}

// queryError answers a refused query: a 401 for seller=me signed out, a
// 400 naming each bad parameter.
func queryError(err error) error {
	var fields catalog.FieldErrors
	switch {
	case errors.Is(err, catalog.ErrSignInRequired):
		return httpapi.ErrNotAuthorized
	case errors.As(err, &fields):
		details := make([]httpapi.Detail, len(fields))
		for i, f := range fields {
			details[i] = httpapi.Detail{Field: f.Field, Message: f.Message}
		}
		return httpapi.Validation(details...)
	}
	return err
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
