package main

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// user is the signed-in user as auth reports it.
type user struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

type ticket struct {
	ID      string  `json:"id"`
	Title   string  `json:"title"`
	Price   float64 `json:"price"`
	UserID  string  `json:"userId"`
	OrderID string  `json:"orderId"`
	Version int64   `json:"version"`
}

type order struct {
	ID        string    `json:"id"`
	UserID    string    `json:"userId"`
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expiresAt"`
	Ticket    *ticket   `json:"ticket"`
	// Refunded: cancelled or expired while its payment went through; the
	// charge was given back.
	Refunded bool `json:"refunded"`
}

// frontend renders the pages, calling the APIs server-side.
type frontend struct {
	auth, tickets, orders, payments backend
	templates                       *template.Template
	stripeKey                       string
	log                             *slog.Logger
	now                             func() time.Time
}

func newFrontend(cfg config, log *slog.Logger) (*frontend, error) {
	t, err := template.New("").Funcs(template.FuncMap{
		"usd": func(p float64) string { return fmt.Sprintf("$%.2f", p) },
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("parsing templates: %w", err)
	}
	return &frontend{
		auth:      newBackend("auth", cfg.AuthURL, cfg.Timeout),
		tickets:   newBackend("tickets", cfg.TicketsURL, cfg.Timeout),
		orders:    newBackend("orders", cfg.OrdersURL, cfg.Timeout),
		payments:  newBackend("payments", cfg.PaymentsURL, cfg.Timeout),
		templates: t,
		stripeKey: cfg.StripeKey,
		log:       log,
		now:       time.Now,
	}, nil
}

// staticFiles serves the embedded stylesheet and script.
func staticFiles() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	return http.StripPrefix("/static/", http.FileServerFS(sub))
}

// page is what every template receives.
type page struct {
	Title string
	User  *user
	CSRF  string
	// FormKey names the request a rendered form makes, sent on as its
	// Idempotency-Key: a double click or a resubmitted page creates
	// nothing twice. Every render gets a new one.
	FormKey   string
	StripeKey string
	Errors    []string
	Data      map[string]any
}

// formKeyField is the hidden form field that carries page.FormKey.
const formKeyField = "idempotency_key"

func newFormKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// render executes the named page into a buffer first, so a template error
// becomes a clean 500 instead of half a page.
func (f *frontend) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.CSRF = csrfToken(r.Context())
	p.FormKey = newFormKey()
	p.StripeKey = f.stripeKey
	var buf bytes.Buffer
	if err := f.templates.ExecuteTemplate(&buf, name, p); err != nil {
		f.log.Error("rendering page", "page", name, "err", err)
		http.Error(w, "Something went wrong", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// currentUser asks auth who the browser is signed in as.
func (f *frontend) currentUser(r *http.Request) (*user, error) {
	var body struct {
		CurrentUser *user `json:"currentUser"`
	}
	if _, err := f.auth.call(r, http.MethodGet, "/api/users/currentuser", nil, &body); err != nil {
		return nil, err
	}
	return body.CurrentUser, nil
}

// fail renders the page an error deserves: the sign-in page for a missing
// session, a 404 page, a friendly 502/503 page for a backend that is down
// or slow, and a 500 page for anything else.
func (f *frontend) fail(w http.ResponseWriter, r *http.Request, u *user, err error) {
	if r.Context().Err() != nil {
		// The browser went away (or gave up) mid-request: nothing failed
		// on our side and nobody is left to read a page.
		f.log.Debug("browser went away", "path", r.URL.Path, "err", err)
		return
	}
	var api *apiError
	var down *unavailableError
	switch {
	case errors.As(err, &api) && api.Status == http.StatusUnauthorized && u == nil:
		http.Redirect(w, r, "/auth/signin", http.StatusSeeOther)
	case errors.As(err, &api) && api.Status == http.StatusNotFound:
		f.notFoundFor(w, r, u)
	case errors.As(err, &down):
		f.log.Warn("backend unavailable", "path", r.URL.Path, "err", err)
		f.render(w, r, down.Status, "error", page{Title: "Temporarily unavailable", User: u,
			Errors: []string{"Part of GitTix is not answering right now. Please try again in a moment."}})
	default:
		f.log.Error("page failed", "path", r.URL.Path, "err", err)
		f.render(w, r, http.StatusInternalServerError, "error", page{Title: "Something went wrong", User: u,
			Errors: []string{"Something went wrong on our side."}})
	}
}

func (f *frontend) notFoundFor(w http.ResponseWriter, r *http.Request, u *user) {
	f.render(w, r, http.StatusNotFound, "error", page{Title: "Page not found", User: u,
		Errors: []string{"There is nothing at this address."}})
}

// notFound is the router's 404 page.
func (f *frontend) notFound(w http.ResponseWriter, r *http.Request) {
	u, _ := f.currentUser(r) // the header still shows who is signed in, if auth answers
	f.notFoundFor(w, r, u)
}

// refuseCSRF answers a form post without a valid token.
func (f *frontend) refuseCSRF(w http.ResponseWriter, r *http.Request) {
	f.render(w, r, http.StatusForbidden, "error", page{Title: "Form expired",
		Errors: []string{"This form has expired. Please go back, reload the page and try again."}})
}

// messages are an error's lines for the "Ooops...." box, or nil when the
// error is not the user's to fix.
func messages(err error) []string {
	var api *apiError
	if errors.As(err, &api) && api.Status != http.StatusNotFound {
		return api.Messages
	}
	return nil
}
