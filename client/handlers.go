package main

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"
)

// home lists the catalogue a page at a time (lists.go), as its filter
// form and the URL ask; a filter the API refuses is shown beside the form.
func (f *frontend) home(w http.ResponseWriter, r *http.Request) {
	u, err := f.currentUser(r)
	if err != nil {
		f.fail(w, r, nil, err)
		return
	}
	q := catalogList.query(r.URL)
	var tickets []ticket
	pg, err := catalogList.fetch(r, f.tickets, "/api/tickets", q, &tickets)
	form := newFilterForm(q, []string{"q", "status", "minPrice", "maxPrice", "sort"}, catalogStatuses, ticketSorts)
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
		live = liveURL("tickets", q, "q", "status", "minPrice", "maxPrice", "seller")
	}
	f.render(w, r, status, "home", page{Title: "Tickets", User: u, Live: live, Data: map[string]any{
		"Tickets": tickets, "Pager": pg, "Filter": form, "LiveNew": liveNew, "Searched": len(r.URL.Query()) > 0,
	}})
}

// authForm shows the sign-up or sign-in form.
func (f *frontend) authForm(mode string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, err := f.currentUser(r)
		if err != nil {
			f.fail(w, r, nil, err)
			return
		}
		f.render(w, r, http.StatusOK, "auth", page{Title: authTitle(mode), User: u,
			Data: map[string]any{"Mode": mode, "Next": safeNext(r.URL.Query().Get(nextParam))}})
	}
}

func authTitle(mode string) string {
	if mode == "signup" {
		return "Sign Up"
	}
	return "Sign In"
}

// authSubmit posts the form to auth, relays its session cookie and goes
// back to the page that asked for a sign-in (or home); the API's errors
// are shown on the form.
func (f *frontend) authSubmit(mode string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		email := r.PostFormValue("email")
		next := safeNext(r.PostFormValue(nextParam))
		creds := map[string]string{"email": email, "password": r.PostFormValue("password")}
		h, err := f.auth.call(r, http.MethodPost, "/api/users/"+mode, creds, nil)
		if msgs := messages(err); msgs != nil {
			f.render(w, r, http.StatusBadRequest, "auth", page{Title: authTitle(mode), Errors: msgs,
				Data: map[string]any{"Mode": mode, "Email": email, "Next": next}})
			return
		}
		if err != nil {
			f.fail(w, r, nil, err)
			return
		}
		relayCookies(w, h)
		flash := "signedin"
		if mode == "signup" {
			flash = "signedup"
		}
		setFlash(w, flash, f.cookieSecure)
		if next == "" {
			next = "/"
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
}

// signoutForm asks to confirm with a button: signing out is a POST, so a
// link or an image on another site cannot sign anyone out.
func (f *frontend) signoutForm(w http.ResponseWriter, r *http.Request) {
	u, err := f.currentUser(r)
	if err != nil {
		f.fail(w, r, nil, err)
		return
	}
	f.render(w, r, http.StatusOK, "signout", page{Title: "Sign Out", User: u})
}

// signout signs out through auth and goes home.
func (f *frontend) signout(w http.ResponseWriter, r *http.Request) {
	h, err := f.auth.call(r, http.MethodPost, "/api/users/signout", struct{}{}, nil)
	if err != nil {
		f.fail(w, r, nil, err)
		return
	}
	relayCookies(w, h)
	setFlash(w, "signedout", f.cookieSecure)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// signedIn loads the current user, sending visitors to sign in first.
func (f *frontend) signedIn(w http.ResponseWriter, r *http.Request) (*user, bool) {
	u, err := f.currentUser(r)
	if err != nil {
		f.fail(w, r, nil, err)
		return nil, false
	}
	if u == nil {
		http.Redirect(w, r, signinURL(r), http.StatusSeeOther)
		return nil, false
	}
	return u, true
}

// newTicketForm shows the sell form.
func (f *frontend) newTicketForm(w http.ResponseWriter, r *http.Request) {
	u, ok := f.signedIn(w, r)
	if !ok {
		return
	}
	f.render(w, r, http.StatusOK, "ticket-new", page{Title: "Create a Ticket", User: u,
		Data: map[string]any{"Form": filledForm(newTitle, "", "")}})
}

// createTicket sells a ticket and shows it to its seller. A refused form
// is shown again as typed, each error beside its field.
func (f *frontend) createTicket(w http.ResponseWriter, r *http.Request) {
	u, ok := f.signedIn(w, r)
	if !ok {
		return
	}
	form := readTicketForm(r, newTitle)
	var created ticket
	if form.ok() {
		_, err := f.tickets.call(r, http.MethodPost, "/api/tickets", form.body(), &created)
		if api := refusal(err); api != nil {
			form.refused(api)
		} else if err != nil {
			f.fail(w, r, u, err)
			return
		}
	}
	if !form.ok() {
		f.render(w, r, http.StatusBadRequest, "ticket-new", page{Title: "Create a Ticket", User: u, Errors: form.Other,
			Data: map[string]any{"Form": form}})
		return
	}
	setFlash(w, "listed", f.cookieSecure)
	next := "/tickets/mine" // should tickets ever answer without the id
	if validID(created.ID) {
		next = "/tickets/" + created.ID
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// showTicket shows a ticket with its Purchase button.
func (f *frontend) showTicket(w http.ResponseWriter, r *http.Request) {
	f.ticketPage(w, r, http.StatusOK, nil)
}

func (f *frontend) ticketPage(w http.ResponseWriter, r *http.Request, status int, errs []string) {
	u, err := f.currentUser(r)
	if err != nil {
		f.fail(w, r, nil, err)
		return
	}
	var t ticket
	if _, err := f.tickets.call(r, http.MethodGet, "/api/tickets/"+url.PathEscape(chi.URLParam(r, "id")), nil, &t); err != nil {
		f.fail(w, r, u, err)
		return
	}
	data := map[string]any{"Ticket": t, "Mine": u != nil && t.UserID == u.ID}
	if u != nil && t.OrderID != "" && t.UserID != u.ID {
		// Reserved: by this user's own order? Orders answers only its buyer.
		var o order
		if _, err := f.orders.call(r, http.MethodGet, "/api/orders/"+url.PathEscape(t.OrderID), nil, &o); err == nil {
			data["MyOrder"] = o.ID
			errs = nil // "already reserved" is no error when it is yours: the link says it
		}
	}
	f.render(w, r, status, "ticket-show", page{Title: t.Title, User: u, Errors: errs, Live: "/live?ticket=" + url.QueryEscape(t.ID), Data: data})
}

// purchase orders the ticket and goes to the order's page.
func (f *frontend) purchase(w http.ResponseWriter, r *http.Request) {
	u, ok := f.signedIn(w, r)
	if !ok {
		return
	}
	var o order
	_, err := f.orders.call(r, http.MethodPost, "/api/orders", map[string]string{"ticketId": chi.URLParam(r, "id")}, &o)
	if msgs := messages(err); msgs != nil {
		f.ticketPage(w, r, http.StatusBadRequest, msgs)
		return
	}
	if err != nil {
		f.fail(w, r, u, err)
		return
	}
	setFlash(w, "reserved", f.cookieSecure)
	http.Redirect(w, r, "/orders/"+url.PathEscape(o.ID), http.StatusSeeOther)
}

// listOrders shows the user's orders a page at a time, newest first.
func (f *frontend) listOrders(w http.ResponseWriter, r *http.Request) {
	u, ok := f.signedIn(w, r)
	if !ok {
		return
	}
	q := ordersList.query(r.URL)
	var orders []order
	pg, err := ordersList.fetch(r, f.orders, "/api/orders", q, &orders)
	form := newFilterForm(q, []string{"status"}, orderStatuses, nil)
	status := http.StatusOK
	if api := badRequest(err); api != nil {
		form.refused(api)
		status, err = http.StatusBadRequest, nil
	}
	if err != nil {
		f.fail(w, r, u, err)
		return
	}
	// An orders service without paging answers every order, oldest first;
	// ObjectIDs sort by creation time.
	slices.SortStableFunc(orders, func(a, b order) int { return strings.Compare(b.ID, a.ID) })
	live, liveNew := "/live", status == http.StatusOK && pg.First
	if liveNew {
		live = liveURL("orders", q, "status")
	}
	f.render(w, r, status, "orders", page{Title: "My Orders", User: u, Live: live, Data: map[string]any{
		"Orders": orders, "Now": f.now(), "Pager": pg, "Filter": form, "LiveNew": liveNew, "Searched": q.Has("status"),
	}})
}

// showOrder shows the time left to pay and the payment form.
func (f *frontend) showOrder(w http.ResponseWriter, r *http.Request) {
	f.orderPage(w, r, http.StatusOK, nil)
}

func (f *frontend) orderPage(w http.ResponseWriter, r *http.Request, status int, errs []string) {
	u, ok := f.signedIn(w, r)
	if !ok {
		return
	}
	var o order
	if _, err := f.orders.call(r, http.MethodGet, "/api/orders/"+url.PathEscape(chi.URLParam(r, "id")), nil, &o); err != nil {
		f.fail(w, r, u, err)
		return
	}
	now := f.now()
	state := o.State(now)
	p := page{Title: "Order", User: u, Errors: errs, Live: "/live?order=" + url.QueryEscape(o.ID), Data: map[string]any{
		"Order": o, "State": state, "SecondsLeft": o.SecondsLeft(now),
	}}
	if state != orderAwaiting {
		// "Reserved, pay before the time runs out" above "Expired" (or
		// "completes in a moment" above "Paid") no longer holds.
		p.StaleFlash = []string{"reserved", "paid"}
	}
	f.render(w, r, status, "order-show", p)
}

// testToken is Stripe's test card token, used by the test-mode form.
const testToken = "tok_visa"

// pay pays for the order with the test-mode form's token.
func (f *frontend) pay(w http.ResponseWriter, r *http.Request) {
	u, ok := f.signedIn(w, r)
	if !ok {
		return
	}
	token := r.PostFormValue("token")
	if token == "" {
		token = testToken
	}
	_, err := f.payments.call(r, http.MethodPost, "/api/payments",
		map[string]string{"token": token, "orderId": chi.URLParam(r, "id")}, nil)
	if msgs := messages(err); msgs != nil {
		f.orderPage(w, r, http.StatusBadRequest, msgs)
		return
	}
	if err != nil {
		f.fail(w, r, u, err)
		return
	}
	// Back to the order, which turns complete by itself (live updates) as
	// soon as orders has taken the payment.
	setFlash(w, "paid", f.cookieSecure)
	http.Redirect(w, r, "/orders/"+url.PathEscape(chi.URLParam(r, "id")), http.StatusSeeOther)
}
