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

// myListings shows the signed-in user's own tickets a page at a time
// (seller=me), each with Edit while nobody holds it.
func (f *frontend) myListings(w http.ResponseWriter, r *http.Request) {
	u, ok := f.signedIn(w, r)
	if !ok {
		return
	}
	q := listingsList.query(r.URL)
	var tickets []ticket
	pg, err := listingsList.fetch(r, f.tickets, "/api/tickets", q, &tickets)
	form := newFilterForm(q, []string{"status", "sort"}, listingStatuses, ticketSorts)
	status := http.StatusOK
	if api := badRequest(err); api != nil {
		form.refused(api)
		status, err = http.StatusBadRequest, nil
	}
	if err != nil {
		f.fail(w, r, u, err)
		return
	}
	live, liveNew := "/live", status == http.StatusOK && isFirstNewest(pg, q)
	if liveNew {
		live = liveURL("tickets", q, "status", "seller")
	}
	f.render(w, r, status, "my-listings", page{Title: "My Listings", User: u, Live: live, Data: map[string]any{
		"Tickets": tickets, "Pager": pg, "Filter": form, "LiveNew": liveNew, "Searched": q.Has("status"),
	}})
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

// editRefusal says why a ticket in state cannot be edited ("" if it can):
// its title and price are what a buyer ordered.
func editRefusal(state string) string {
	switch state {
	case statusAvailable:
		return ""
	case statusSold:
		return "This ticket is sold, so it can no longer be edited."
	case statusReserved:
		return "This ticket is reserved by a buyer, so it cannot be edited while the order is open."
	}
	return "This ticket cannot be edited now."
}

// editPage renders the edit form, or only the reason when the ticket
// cannot be edited.
func (f *frontend) editPage(w http.ResponseWriter, r *http.Request, status int, u *user, t ticket, form ticketForm) {
	p := page{Title: "Edit listing", User: u, Errors: form.Other, Data: map[string]any{"Ticket": t, "Form": form}}
	if why := editRefusal(t.State()); why != "" {
		p.Errors, p.Data["Locked"] = []string{why}, true
	}
	f.render(w, r, status, "ticket-edit", p)
}

// editTicketForm shows the edit form of the user's own ticket.
func (f *frontend) editTicketForm(w http.ResponseWriter, r *http.Request) {
	u, t, ok := f.ownTicket(w, r)
	if !ok {
		return
	}
	f.editPage(w, r, http.StatusOK, u, t, filledForm(editTitle, t.Title, usdPlain(t.Price)))
}

// updateTicket saves the edit (PUT /api/tickets/:id) with the sell form's
// checks; a refused form is shown again as typed. A ticket that is not
// available is refused for the state it is in: tickets says "reserved"
// for a sold one too.
func (f *frontend) updateTicket(w http.ResponseWriter, r *http.Request) {
	u, t, ok := f.ownTicket(w, r)
	if !ok {
		return
	}
	form := readTicketForm(r, editTitle)
	if t.State() != statusAvailable {
		f.editPage(w, r, http.StatusConflict, u, t, form)
		return
	}
	if form.ok() {
		_, err := f.tickets.call(r, http.MethodPut, "/api/tickets/"+url.PathEscape(t.ID), form.body(), nil)
		api := refusal(err)
		switch {
		case api != nil && len(api.Fields) == 0:
			// Held meanwhile? Then say how it is held.
			var now ticket
			if _, err := f.tickets.call(r, http.MethodGet, "/api/tickets/"+url.PathEscape(t.ID), nil, &now); err == nil && now.State() != statusAvailable {
				f.editPage(w, r, http.StatusConflict, u, now, form)
				return
			}
			form.refused(api)
		case api != nil:
			form.refused(api)
		case err != nil:
			f.fail(w, r, u, err)
			return
		}
	}
	if !form.ok() {
		f.editPage(w, r, http.StatusBadRequest, u, t, form)
		return
	}
	setFlash(w, "edited", f.cookieSecure)
	http.Redirect(w, r, "/tickets/mine", http.StatusSeeOther)
}
