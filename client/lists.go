package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// List pages (the landing page, My Listings, My Orders) show a page at a
// time of what an API lists. A page's URL parameters go on to the API as
// they are, and the API's Link headers (rel="next", rel="prev", RFC 8288)
// become the page's own previous and next links: the cursor is the API's,
// opaque here, and every other parameter stays as it was. (The API pages
// with after=; before= goes through too, should a prev link ever use it.)

// pageSize is how many rows a list page shows.
const pageSize = 20

// list is one kind of list page.
type list struct {
	path   string   // the page's own path
	params []string // its URL parameters, passed on to the API
	// defaults are asked of the API when the URL does not say; fixed
	// always, whatever the URL says.
	defaults, fixed url.Values
}

var (
	// The landing page: the catalogue, available tickets newest first
	// unless its URL says otherwise.
	catalogList = list{path: "/", params: []string{"q", "status", "minPrice", "maxPrice", "seller", "sort", "limit", "after", "before"},
		defaults: url.Values{"status": {statusAvailable}}}
	// My Listings: the signed-in user's tickets, in any state unless asked.
	listingsList = list{path: "/tickets/mine", params: []string{"status", "sort", "limit", "after", "before"},
		fixed: url.Values{"seller": {"me"}}}
	// My Orders: the signed-in user's orders, newest first.
	ordersList = list{path: "/orders", params: []string{"status", "limit", "after", "before"}}
)

// pick keeps the list's parameters of in, trimmed and without blanks (an
// empty box of a GET form), one value each. Several statuses (a repeated
// parameter) become the API's comma list.
func (l list) pick(in url.Values) url.Values {
	out := url.Values{}
	for _, name := range l.params {
		var vals []string
		for _, v := range in[name] {
			if v = strings.TrimSpace(v); v != "" {
				vals = append(vals, v)
			}
		}
		switch {
		case len(vals) == 0:
		case name == "status":
			out.Set(name, strings.Join(vals, ","))
		default:
			out.Set(name, vals[0])
		}
	}
	return out
}

// query is what the page at u asks of the API.
func (l list) query(u *url.URL) url.Values {
	q := l.pick(u.Query())
	for k, v := range l.defaults {
		if !q.Has(k) {
			q[k] = v
		}
	}
	for k, v := range l.fixed {
		q[k] = v
	}
	if !q.Has("limit") {
		q.Set("limit", strconv.Itoa(pageSize))
	}
	return q
}

// pager is a list page's links to its neighbours ("" for none). First is
// the first page: the API links back only from later ones.
type pager struct {
	Prev, Next string
	First      bool
}

// links turns the API's Link headers into the page's own links.
func (l list) links(h http.Header) pager {
	p := pager{}
	for _, value := range h.Values("Link") {
		for _, m := range linkValue.FindAllStringSubmatch(value, -1) {
			target, err := url.Parse(m[1])
			if err != nil {
				continue
			}
			for _, rel := range linkRels(m[2]) {
				switch rel {
				case "next":
					p.Next = l.pageURL(target.Query())
				case "prev", "previous":
					p.Prev = l.pageURL(target.Query())
				}
			}
		}
	}
	p.First = p.Prev == ""
	return p
}

// pageURL is the page for an API query: its parameters, without the page
// size when it is the usual one.
func (l list) pageURL(api url.Values) string {
	q := l.pick(api)
	if q.Get("limit") == strconv.Itoa(pageSize) {
		q.Del("limit")
	}
	if len(q) == 0 {
		return l.path
	}
	return l.path + "?" + q.Encode()
}

// linkValue is one link of a Link header: <target> and its parameters
// (a target may hold commas, as status=a,b does; it never holds ">").
var linkValue = regexp.MustCompile(`<([^>]*)>([^<]*)`)

var relParam = regexp.MustCompile(`(?i)(?:^|;)\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))`)

// linkRels are the relation types of a link's parameters, lower case.
func linkRels(params string) []string {
	m := relParam.FindStringSubmatch(params)
	if m == nil {
		return nil
	}
	return strings.Fields(strings.ToLower(m[1] + m[2]))
}

// isFirstNewest reports whether a list page shows the newest entries
// first on its first page: the only page a new entry goes on, live.
func isFirstNewest(p pager, q url.Values) bool {
	sort := q.Get("sort")
	return p.First && (sort == "" || sort == "newest")
}

// fetch asks b for the page of the list that q names, decoding it into
// out, and returns the page's links.
func (l list) fetch(r *http.Request, b backend, apiPath string, q url.Values, out any) (pager, error) {
	h, err := b.call(r, http.MethodGet, apiPath+"?"+q.Encode(), nil, out)
	if err != nil {
		return pager{}, err
	}
	return l.links(h), nil
}

// liveURL is the live stream of a list's first page, newest first: it
// sends the new entries (kind "tickets" or "orders") that match the page's
// params of q.
func liveURL(kind string, q url.Values, params ...string) string {
	v := url.Values{"new": {kind}}
	for _, p := range params {
		if q.Has(p) {
			v.Set(p, q.Get(p))
		}
	}
	return "/live?" + v.Encode()
}
