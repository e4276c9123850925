package main

import (
	"net/http"
	"time"
)

// Flash messages confirm what a form did on the page it leads to (post,
// redirect, get). The cookie holds only a code from flashMessages, never
// text, so nobody can put words on the page through it; it is HttpOnly,
// lives a minute and is cleared by the first page that shows it.

const flashCookie = "flash"

var flashMessages = map[string]string{
	"listed":    "Your ticket is listed.",
	"edited":    "Your listing is updated.",
	"reserved":  "The ticket is reserved for you. Pay before the time runs out.",
	"paid":      "Payment received. Your order completes in a moment.",
	"cancelled": "Your order is cancelled and the ticket is back on sale.",
	"signedin":  "You are signed in.",
	"signedup":  "Welcome! Your account is ready.",
	"signedout": "You are signed out.",
}

// setFlash makes the next page say what code stands for.
func setFlash(w http.ResponseWriter, code string, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: code, Path: "/", MaxAge: int(time.Minute / time.Second),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
}

// takeFlash reads the pending message's code, if any, and clears it.
func takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return c.Value
}
