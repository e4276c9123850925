package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
)

// SetPageLinks announces a paged list's neighbours (RFC 8288): rel="next"
// when next is a cursor, rel="prev" when prev is one. Each link is the
// request's own path and query with after set to the cursor, so it keeps
// every other parameter.
func SetPageLinks(w http.ResponseWriter, r *http.Request, next, prev string) {
	link := func(cursor, rel string) {
		q := url.Values{}
		for k, v := range r.URL.Query() {
			q[k] = v
		}
		q.Set("after", cursor)
		w.Header().Add("Link", fmt.Sprintf(`<%s?%s>; rel="%s"`, r.URL.Path, q.Encode(), rel))
	}
	if next != "" {
		link(next, "next")
	}
	if prev != "" {
		link(prev, "prev")
	}
}
