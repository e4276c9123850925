package main

import (
	"errors"
	"mime"
	"net/http"
	"strings"

	"ticketing.dev/common/httpapi"
)

// maxFormBody bounds a form post: the client's forms hold a few short
// fields, so anything larger is not one of them.
const maxFormBody = 64 << 10

const formType = "application/x-www-form-urlencoded"

// apiNotFound answers every /api/... path that reaches the client (the
// ingress's catch-all) with the API's JSON 404, whatever its method or
// body, as an unknown API route is a JSON 404 wherever it ends up. Paths
// are matched case-insensitively, as the ingress matches them.
func apiNotFound(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.ToLower(r.URL.Path)
		if p == "/api" || strings.HasPrefix(p, "/api/") {
			httpapi.NotFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// formBodies admits only url-encoded bodies of at most maxFormBody, and
// parses them here, once, in memory. Anything else (multipart above all,
// which net/http spools to temporary files, and which were never removed
// when parsed on a copy of the request) is refused with 415 before a byte
// of it is read; an oversized form is a 413, a malformed one a 400.
func (f *frontend) formBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hasBody(r) {
			next.ServeHTTP(w, r)
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != formType {
			f.refuse(w, r, http.StatusUnsupportedMediaType, "Forms are sent as "+formType+".")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
		if err := r.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				f.refuse(w, r, http.StatusRequestEntityTooLarge, "This form is too large.")
				return
			}
			f.refuse(w, r, http.StatusBadRequest, "This form could not be read.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hasBody reports whether the request may carry a body worth checking.
func hasBody(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// refuse renders an error page without calling any API.
func (f *frontend) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	f.render(w, r, status, "error", page{Title: http.StatusText(status), Errors: []string{msg}})
}
