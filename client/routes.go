package main

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/service"
)

// contentSecurityPolicy allows only the client's own files, plus Stripe.js
// for the card element when a publishable key is configured.
const contentSecurityPolicy = "default-src 'self'; script-src 'self' https://js.stripe.com; " +
	"frame-src https://js.stripe.com; connect-src 'self' https://api.stripe.com; img-src 'self' data:; " +
	"style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// routes lists every page of the client.
func routes(f *frontend, log *slog.Logger, cookieSecure bool) http.Handler {
	r := chi.NewRouter()
	r.Use(httpapi.Middleware(log), middleware.StripSlashes, middleware.GetHead, httpapi.ValidPath, httpapi.NoSniff,
		securityHeaders, apiNotFound, f.formBodies)
	r.Get("/healthz", service.Healthz)
	r.Get("/readyz", service.Readyz())
	r.Handle("/static/*", staticFiles())
	r.Get("/favicon.ico", favicon)

	r.Group(func(r chi.Router) {
		r.Use(httpapi.NoStoreWhen(hasSession), http.NewCrossOriginProtection().Handler, csrf(cookieSecure, http.HandlerFunc(f.refuseCSRF)))
		r.NotFound(f.notFound)
		r.MethodNotAllowed(f.notFound)

		r.Get("/", f.home)
		r.Get("/live", f.live)
		r.Get("/auth/signup", f.authForm("signup"))
		r.Post("/auth/signup", f.authSubmit("signup"))
		r.Get("/auth/signin", f.authForm("signin"))
		r.Post("/auth/signin", f.authSubmit("signin"))
		r.Get("/auth/signout", f.signoutForm)
		r.Post("/auth/signout", f.signout)
		r.Get("/tickets/new", f.newTicketForm)
		r.Post("/tickets/new", f.createTicket)
		r.Get("/tickets/mine", f.myListings)
		r.Get("/tickets/{id}", f.showTicket)
		r.Post("/tickets/{id}", f.purchase)
		r.Get("/tickets/{id}/edit", f.editTicketForm)
		r.Post("/tickets/{id}/edit", f.updateTicket)
		r.Get("/orders", f.listOrders)
		r.Get("/orders/{id}", f.showOrder)
		r.Post("/orders/{id}/pay", f.pay)
		r.Get("/orders/{id}/cancel", f.cancelForm)
		r.Post("/orders/{id}/cancel", f.cancelOrder)
	})
	return r
}

// securityHeaders are the pages' own policies: where scripts, frames and
// requests may come from, and what a link tells the next site.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// hasSession reports a session cookie, valid or not: the client does not
// check sessions (the APIs do), and a page rendered for one may show a
// user's orders or name, which no shared cache or history should keep.
func hasSession(r *http.Request) bool {
	_, err := r.Cookie("session")
	return err == nil
}
