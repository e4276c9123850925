package main

import (
	"net/http"
	"net/url"
	"strings"
)

// Sign-in returns to the page that asked for it: the page's path travels
// as ?next= on the sign-in page and as a hidden field of its form. Only a
// path on this site is followed: anything that could name another host
// ("//evil", "/\evil", "https://…") or is not a plain path is dropped, so
// the sign-in form cannot be made into an open redirect.

const nextParam = "next"

// safeNext is next if it is a same-origin path, else "".
func safeNext(next string) string {
	if next == "" || next[0] != '/' || len(next) > 2048 {
		return ""
	}
	if strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\x00\r\n\t") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	if strings.HasPrefix(u.Path, "/auth/") {
		return "" // never back to a sign-in or sign-out page
	}
	return next
}

// signinURL is the sign-in page that comes back to r's page: a GET returns
// to itself, a form post (purchase) to the page the form was on.
func signinURL(r *http.Request) string {
	back := r.URL.RequestURI()
	if r.Method != http.MethodGet {
		back = strings.TrimSuffix(r.URL.Path, "/pay")
		back = strings.TrimSuffix(back, "/cancel")
	}
	if back = safeNext(back); back == "" || back == "/" {
		return "/auth/signin"
	}
	return "/auth/signin?" + url.Values{nextParam: {back}}.Encode()
}
