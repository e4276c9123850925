package main

import (
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"
)

// loadOrder fetches the signed-in user's order named in the path; someone
// else's is a 404 page (fail), as is an unknown one.
func (f *frontend) loadOrder(w http.ResponseWriter, r *http.Request) (*user, order, bool) {
	u, ok := f.signedIn(w, r)
	if !ok {
		return nil, order{}, false
	}
	var o order
	if _, err := f.orders.call(r, http.MethodGet, "/api/orders/"+url.PathEscape(chi.URLParam(r, "id")), nil, &o); err != nil {
		f.fail(w, r, u, err)
		return nil, order{}, false
	}
	return u, o, true
}

// cancelForm asks to confirm a cancel: a POST behind a page of its own,
// so it works without JavaScript and no link can cancel anything.
func (f *frontend) cancelForm(w http.ResponseWriter, r *http.Request) {
	u, o, ok := f.loadOrder(w, r)
	if !ok {
		return
	}
	if !o.Open(f.now()) {
		http.Redirect(w, r, "/orders/"+url.PathEscape(o.ID), http.StatusSeeOther)
		return
	}
	f.render(w, r, http.StatusOK, "order-cancel", page{Title: "Cancel order", User: u, Data: map[string]any{"Order": o}})
}

// cancelOrder cancels through orders (DELETE /api/orders/:id) and shows
// the order, now cancelled.
func (f *frontend) cancelOrder(w http.ResponseWriter, r *http.Request) {
	u, ok := f.signedIn(w, r)
	if !ok {
		return
	}
	id := chi.URLParam(r, "id")
	_, err := f.orders.call(r, http.MethodDelete, "/api/orders/"+url.PathEscape(id), nil, nil)
	if msgs := messages(err); msgs != nil && !isNotAuthorized(err) {
		f.orderPage(w, r, http.StatusBadRequest, msgs)
		return
	}
	if err != nil {
		f.fail(w, r, u, err)
		return
	}
	setFlash(w, "cancelled", f.cookieSecure)
	http.Redirect(w, r, "/orders/"+url.PathEscape(id), http.StatusSeeOther)
}

// myListings shows the signed-in user's own tickets, each with Edit while
// nobody holds it. The API has no per-seller query, so this reads every
// ticket and keeps the user's.
func (f *frontend) myListings(w http.ResponseWriter, r *http.Request) {
	u, ok := f.signedIn(w, r)
	if !ok {
		return
	}
	var all []ticket
	if _, err := f.tickets.call(r, http.MethodGet, "/api/tickets", nil, &all); err != nil {
		f.fail(w, r, u, err)
		return
	}
	var mine []ticket
	for _, t := range all {
		if t.UserID == u.ID {
			mine = append(mine, t)
		}
	}
	f.render(w, r, http.StatusOK, "my-listings", page{Title: "My Listings", User: u, Live: "/live",
		Data: map[string]any{"Tickets": mine}})
}

// ownTicket loads the ticket in the path if it is the user's; anyone
// else's is a 404 page.
func (f *frontend) ownTicket(w http.ResponseWriter, r *http.Request) (*user, ticket, bool) {
	u, ok := f.signedIn(w, r)
	if !ok {
		return nil, ticket{}, false
	}
	var t ticket
	if _, err := f.tickets.call(r, http.MethodGet, "/api/tickets/"+url.PathEscape(chi.URLParam(r, "id")), nil, &t); err != nil {
		f.fail(w, r, u, err)
		return nil, ticket{}, false
	}
	if t.UserID != u.ID {
		f.notFoundFor(w, r, u)
		return nil, ticket{}, false
	}
	return u, t, true
}

// editTicketForm shows the edit form of the user's own ticket.
func (f *frontend) editTicketForm(w http.ResponseWriter, r *http.Request) {
	u, t, ok := f.ownTicket(w, r)
	if !ok {
		return
	}
	f.render(w, r, http.StatusOK, "ticket-edit", page{Title: "Edit listing", User: u,
		Data: map[string]any{"Ticket": t, "TicketTitle": t.Title, "Price": usdPlain(t.Price)}})
}

// updateTicket saves the edit (PUT /api/tickets/:id) with the sell form's
// checks; a refused form is shown again as typed.
func (f *frontend) updateTicket(w http.ResponseWriter, r *http.Request) {
	u, t, ok := f.ownTicket(w, r)
	if !ok {
		return
	}
	typedTitle, typedPrice := r.PostFormValue("title"), r.PostFormValue("price")
	form := map[string]any{"Ticket": t, "TicketTitle": typedTitle, "Price": typedPrice}
	title, price, msgs := ticketForm(typedTitle, typedPrice)
	if msgs == nil {
		_, err := f.tickets.call(r, http.MethodPut, "/api/tickets/"+url.PathEscape(t.ID), map[string]string{"title": title, "price": price}, nil)
		if msgs = messages(err); msgs == nil && err != nil {
			f.fail(w, r, u, err)
			return
		}
	}
	if msgs != nil {
		f.render(w, r, http.StatusBadRequest, "ticket-edit", page{Title: "Edit listing", User: u, Errors: msgs, Data: form})
		return
	}
	setFlash(w, "edited", f.cookieSecure)
	http.Redirect(w, r, "/tickets/mine", http.StatusSeeOther)
}
