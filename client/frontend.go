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
	"math"
	"net/http"
	"slices"
	"strconv"
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
	// Status is "available", "reserved" or "sold" (tickets says so; an
	// older tickets service does not, see State).
	Status string `json:"status"`
}

// A ticket's states, as pages and live updates name them.
const (
	statusAvailable = "available"
	statusReserved  = "reserved"
	statusSold      = "sold"
)

// State is the ticket's status, derived from its order when the tickets
// service does not say (the original's answers carry no status).
func (t ticket) State() string {
	switch {
	case t.Status != "":
		return t.Status
	case t.OrderID != "":
		return statusReserved
	}
	return statusAvailable
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
	// CancelledAt tells an expiry from the buyer's cancel, when orders
	// sends it (State guesses from the time otherwise).
	CancelledAt *time.Time `json:"cancelledAt"`
	// CancelReason says why, when orders sends it: "buyer" or "expired".
	CancelReason string `json:"cancelReason"`
}

// Created is when the order was placed: the API does not say, but its
// ObjectID begins with its creation time in seconds.
func (o order) Created() time.Time {
	if !validID(o.ID) {
		return time.Time{}
	}
	secs, _ := strconv.ParseUint(o.ID[:8], 16, 32)
	return time.Unix(int64(secs), 0).UTC()
}

// The order's times as pages write them: for machines (datetime
// attributes, the script's countdown) and for people. Empty when unknown.
func (o order) ExpiresISO() string {
	if o.ExpiresAt.IsZero() {
		return ""
	}
	return o.ExpiresAt.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func (o order) CreatedISO() string {
	if c := o.Created(); !c.IsZero() {
		return c.Format(time.RFC3339)
	}
	return ""
}

func (o order) CreatedText() string {
	if c := o.Created(); !c.IsZero() {
		return c.Format("2 Jan 2006 15:04 MST")
	}
	return ""
}

// Open is an order that can still be paid at now.
func (o order) Open(now time.Time) bool {
	return (o.Status == "created" || o.Status == "awaiting:payment") && o.ExpiresAt.After(now)
}

// SecondsLeft is the time left to pay at now, rounded up.
func (o order) SecondsLeft(now time.Time) int {
	return int(math.Ceil(o.ExpiresAt.Sub(now).Seconds()))
}

// frontend renders the pages, calling the APIs server-side.
type frontend struct {
	auth, tickets, orders, payments backend
	templates                       *template.Template
	stripeKey                       string
	log                             *slog.Logger
	now                             func() time.Time
	cookieSecure                    bool
	// hub carries live updates to the browsers' streams (live.go).
	hub *hub
	// sessionRecheck is how often a signed-in stream asks auth whether
	// its session still stands (signed out or revoked elsewhere).
	sessionRecheck time.Duration
}

func newFrontend(cfg config, log *slog.Logger) (*frontend, error) {
	t, err := template.New("").Funcs(template.FuncMap{
		"usd":         usd,
		"mmss":        mmss,
		"ticketLabel": ticketLabel,
		"orderLabel":  orderLabel,
		"fieldAttrs":  fieldAttrs,
		"timeLeft":    timeLeft,
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
		hub:       newHub(),

		cookieSecure:   cfg.CookieSecure,
		sessionRecheck: sessionRecheck,
	}, nil
}

// staticFiles serves the embedded stylesheet and script.
func staticFiles() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	return http.StripPrefix("/static/", http.FileServerFS(sub))
}

// favicon serves the embedded icon where browsers look for it.
func favicon(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "image/x-icon")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	http.ServeFileFS(w, r, staticFS, "static/favicon.ico")
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
	// Flash is a one-time confirmation of what the last form did
	// (flash.go); render fills it in, unless the page says it no longer
	// holds (StaleFlash: codes of flashMessages).
	Flash      string
	StaleFlash []string
	// Live names the page's live-update stream ("/live?order=…"); pages
	// without one get none.
	Live string
	Data map[string]any
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
	if code := takeFlash(w, r); !slices.Contains(p.StaleFlash, code) {
		p.Flash = flashMessages[code]
	}
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
		http.Redirect(w, r, signinURL(r), http.StatusSeeOther)
	case errors.As(err, &api) && (api.Status == http.StatusNotFound || api.Status == http.StatusUnauthorized):
		// Signed in but not the owner (someone else's order): to this user
		// there is nothing at this address.
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

// refusal is an API's answer for the user to act on (a 4xx other than a
// 404), or nil.
func refusal(err error) *apiError {
	var api *apiError
	if errors.As(err, &api) && api.Status != http.StatusNotFound {
		return api
	}
	return nil
}

// messages are an error's lines for the form's error box, or nil when the
// error is not the user's to fix.
func messages(err error) []string {
	if api := refusal(err); api != nil {
		return api.Messages
	}
	return nil
}
