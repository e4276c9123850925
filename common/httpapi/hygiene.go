package httpapi

import (
	"net/http"
	"unicode/utf8"
)

// ValidPath refuses a URL path that decodes to invalid UTF-8 (such as the
// overlong "/static/%c0%ae%c0%ae/") with a 400 envelope: such a path names
// nothing, and file servers and routers further on would answer it with a
// 500. Escapes that do not decode at all are refused by net/http itself.
func ValidPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !utf8.ValidString(r.URL.Path) {
			WriteError(w, r, BadRequest("Malformed URL path"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// NoSniff tells browsers to trust the Content-Type: a JSON answer is never
// run as a script or rendered as a page.
func NoSniff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// NoStoreWhen marks the answers to requests signedIn reports as
// authenticated "Cache-Control: no-store": they are one user's data, which
// no shared cache (and no browser history) should keep.
func NoStoreWhen(signedIn func(*http.Request) bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if signedIn(r) {
				w.Header().Set("Cache-Control", "no-store")
			}
			next.ServeHTTP(w, r)
		})
	}
}

// HSTSValue is what ingress-nginx sends by default: a year, subdomains too.
const HSTSValue = "max-age=31536000; includeSubDomains"

// HSTS tells browsers to use HTTPS only for this site from now on; only
// for a site served over HTTPS (COOKIE_SECURE on).
func HSTS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", HSTSValue)
		next.ServeHTTP(w, r)
	})
}
