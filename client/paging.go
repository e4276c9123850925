package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
)

// ticketsPerPage is how many tickets the landing page shows at a time.
const ticketsPerPage = 20

// nextLink finds the rel="next" target of a Link header (RFC 8288), as the
// tickets API sends it while more tickets remain.
var nextLink = regexp.MustCompile(`<([^>]*)>\s*;\s*rel="?next"?`)

// ticketPageOf loads one page of tickets, from the one after ?after=, and
// returns the landing page's link to the next page ("" on the last). The
// API's own Link names the next page's first ticket, so the page link
// carries only that cursor.
func (f *frontend) ticketPageOf(r *http.Request) ([]ticket, string, error) {
	q := url.Values{"limit": {strconv.Itoa(ticketsPerPage)}}
	if after := r.URL.Query().Get("after"); validID(after) {
		q.Set("after", after)
	}
	var tickets []ticket
	h, err := f.tickets.call(r, http.MethodGet, "/api/tickets?"+q.Encode(), nil, &tickets)
	if err != nil {
		return nil, "", err
	}
	next := ""
	for _, link := range h.Values("Link") {
		if m := nextLink.FindStringSubmatch(link); m != nil {
			if u, err := url.Parse(m[1]); err == nil && validID(u.Query().Get("after")) {
				next = "/?" + url.Values{"after": {u.Query().Get("after")}}.Encode()
			}
		}
	}
	return tickets, next, nil
}
