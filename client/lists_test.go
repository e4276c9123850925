package main

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// linkHref is the href of the element with id, as a browser reads it.
func linkHref(t *testing.T, body, id string) string {
	t.Helper()
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*href="([^"]*)"`).FindStringSubmatch(body)
	require.NotNil(t, m, "no #%s link", id)
	return html.UnescapeString(m[1])
}

// bodyLive is the page's live stream URL.
func bodyLive(t *testing.T, body string) string {
	t.Helper()
	m := regexp.MustCompile(`<body[^>]* data-live="([^"]*)"`).FindStringSubmatch(body)
	require.NotNil(t, m, "no live stream")
	return html.UnescapeString(m[1])
}

func TestLandingFormRoundTripsItsParametersIntoTheAPICallAndThePrevNextLinks(t *testing.T) {
	s := newSite(t)
	// The API's links keep every parameter but the cursor, as DESIGN §2b says.
	s.api.handle("GET /api/tickets", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		q.Set("after", "CUR-NEXT")
		next := "/api/tickets?" + q.Encode()
		q.Set("after", "CUR-PREV")
		w.Header().Add("Link", `<`+next+`>; rel="next", </api/tickets?`+q.Encode()+`>; rel="prev"`)
		_, _ = w.Write([]byte(`[{"id":"` + oid + `","title":"Jazz Festival 2027","price":20,"userId":"u2","status":"available"}]`))
	})
	p := s.get(t, "/?q=jazz+fest&minPrice=10&maxPrice=50.5&status=available&sort=-price&after=CUR-NOW")
	require.Equal(t, 200, p.Status)
	sent, _ := s.api.last("GET", "/api/tickets")
	assert.Equal(t, url.Values{"q": {"jazz fest"}, "minPrice": {"10"}, "maxPrice": {"50.5"}, "status": {"available"},
		"sort": {"-price"}, "after": {"CUR-NOW"}, "limit": {"20"}}, sent.Query)

	// The form shows what was asked, and starts a new search on page 1.
	assert.Equal(t, "jazz fest", inputAttr(t, p.Body, "q", "value"))
	assert.Equal(t, "10", inputAttr(t, p.Body, "minPrice", "value"))
	assert.Equal(t, "50.5", inputAttr(t, p.Body, "maxPrice", "value"))
	assert.Contains(t, p.Body, `<option value="available" selected>Available</option>`)
	assert.Contains(t, p.Body, `<option value="-price" selected>Highest price</option>`)
	assert.Regexp(t, `<form method="get" action="/"`, p.Body, "a plain GET form: works without a script")
	assert.NotContains(t, p.Body, `name="after"`)

	// Previous and next carry the API's cursors and every other parameter.
	for id, cursor := range map[string]string{"next-page": "CUR-NEXT", "prev-page": "CUR-PREV"} {
		link, err := url.Parse(linkHref(t, p.Body, id))
		require.NoError(t, err)
		assert.Equal(t, "/", link.Path)
		assert.Equal(t, url.Values{"q": {"jazz fest"}, "minPrice": {"10"}, "maxPrice": {"50.5"}, "status": {"available"},
			"sort": {"-price"}, "after": {cursor}}, link.Query(), id)
	}
	assert.Equal(t, "/live", bodyLive(t, p.Body), "a later page gets no new listings")
	assert.NotContains(t, p.Body, `id="ticket-row"`)
}

func TestLandingShowsAvailableTicketsNewestFirstByDefaultAndDropsEmptyBoxes(t *testing.T) {
	s := newSite(t)
	s.api.json("GET /api/tickets", 200, `[]`)
	p := s.get(t, "/")
	sent, _ := s.api.last("GET", "/api/tickets")
	assert.Equal(t, url.Values{"status": {"available"}, "limit": {"20"}}, sent.Query)
	assert.Contains(t, p.Body, `<option value="newest" selected>Newest first</option>`)
	assert.Contains(t, p.Body, "No tickets for sale yet.")
	assert.Equal(t, "/live?new=tickets&status=available", bodyLive(t, p.Body), "page 1, newest first: new listings appear")
	assert.Contains(t, p.Body, `<template id="ticket-row">`)

	// A submitted form with empty boxes, and several statuses.
	p = s.get(t, "/?q=&minPrice=+&maxPrice=&status=available&status=sold&sort=newest&seller="+oid)
	sent, _ = s.api.last("GET", "/api/tickets")
	assert.Equal(t, url.Values{"status": {"available,sold"}, "sort": {"newest"}, "seller": {oid}, "limit": {"20"}}, sent.Query)
	assert.Contains(t, p.Body, `<option value="available,sold" selected>available,sold</option>`, "a status the select lacks is kept")
	assert.Contains(t, p.Body, `<input type="hidden" name="seller" value="`+oid+`">`, "a parameter without a control stays")
	assert.Contains(t, p.Body, "No tickets match this search.")
	assert.Equal(t, "/live?new=tickets&seller="+oid+"&status=available%2Csold", bodyLive(t, p.Body))

	assert.Equal(t, "/live", bodyLive(t, s.get(t, "/?sort=price").Body), "new listings go on top only when newest is on top")
}

func TestLandingShowsTheAPIsMessageForABadParameterBesideTheForm(t *testing.T) {
	s := newSite(t)
	s.api.json("GET /api/tickets", 400, `{"errors":[{"message":"Sort must be newest, oldest, price or -price","field":"sort"},{"message":"Unknown cursor","field":"after"}]}`)
	p := s.get(t, "/?sort=cheap&after=nope")
	assert.Equal(t, 400, p.Status)
	assert.Contains(t, p.Body, "<h1>Tickets</h1>", "the page, not an error page")
	assert.Contains(t, p.Body, `<select id="sort" name="sort" class="form-select is-invalid" aria-invalid="true" aria-describedby="sort-error">`)
	assert.Contains(t, p.Body, `<option value="cheap" selected>cheap</option>`)
	assert.Contains(t, p.Body, `<div id="sort-error" class="invalid-feedback d-block">Sort must be newest, oldest, price or -price</div>`)
	assert.Regexp(t, `id="filter-errors"><ul class="my-0"><li>Unknown cursor</li>`, p.Body, "a message that names no control goes under the form")
	assert.NotContains(t, p.Body, "No tickets")
	assert.NotContains(t, p.Body, "Something went wrong")
}

func TestMyListingsAsksForSellerMeAPageAtATimeFilteredByStatus(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	s.api.handle("GET /api/tickets", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		q.Set("after", "CUR2")
		w.Header().Set("Link", `<http://tickets-srv:3000/api/tickets?`+q.Encode()+`>; rel="next"`)
		_, _ = w.Write([]byte(`[
			{"id":"t1","title":"Mine free","price":20,"userId":"u1","status":"available"},
			{"id":"t2","title":"Mine held","price":20,"userId":"u1","orderId":"o1","status":"reserved"},
			{"id":"t3","title":"Mine sold","price":20,"userId":"u1","orderId":"o2","status":"sold"}]`))
	})
	p := s.get(t, "/tickets/mine")
	require.Equal(t, 200, p.Status)
	sent, _ := s.api.last("GET", "/api/tickets")
	assert.Equal(t, url.Values{"seller": {"me"}, "limit": {"20"}}, sent.Query, "never the whole catalogue")
	assert.Contains(t, p.Body, `href="/tickets/t1/edit">Edit</a>`)
	assert.Contains(t, p.Body, `href="/tickets/t2/edit" hidden>Edit</a>`, "a reserved ticket cannot be edited")
	assert.Contains(t, p.Body, `href="/tickets/t3/edit" hidden>Edit</a>`, "nor a sold one")
	assert.Equal(t, "/tickets/mine?after=CUR2", linkHref(t, p.Body, "next-page"), "seller=me is the page's own")
	assert.Equal(t, "/live?new=tickets&seller=me", bodyLive(t, p.Body))

	p = s.get(t, "/tickets/mine?status=sold&after=CUR2&seller=someone-else")
	sent, _ = s.api.last("GET", "/api/tickets")
	assert.Equal(t, url.Values{"seller": {"me"}, "status": {"sold"}, "after": {"CUR2"}, "limit": {"20"}}, sent.Query)
	assert.Contains(t, p.Body, `<option value="sold" selected>Sold</option>`)
	assert.Equal(t, "/tickets/mine?after=CUR2&status=sold", linkHref(t, p.Body, "next-page"))
}

func TestMyOrdersPagesWithLimitAfterAndStatus(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	s.api.handle("GET /api/orders", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("after") != "" {
			q.Set("after", "O-PREV")
			w.Header().Add("Link", `</api/orders?`+q.Encode()+`>; rel="prev"`)
		}
		q.Set("after", "O-NEXT")
		w.Header().Add("Link", `</api/orders?`+q.Encode()+`>; rel="next"`)
		_, _ = w.Write([]byte(`[{"id":"670000100000000000000002","status":"complete","ticket":{"title":"Newer"}},
			{"id":"670000000000000000000001","status":"cancelled","ticket":{"title":"Older"}}]`))
	})
	p := s.get(t, "/orders")
	require.Equal(t, 200, p.Status)
	sent, _ := s.api.last("GET", "/api/orders")
	assert.Equal(t, url.Values{"limit": {"20"}}, sent.Query)
	assert.Equal(t, "/orders?after=O-NEXT", linkHref(t, p.Body, "next-page"))
	assert.NotContains(t, p.Body, `id="prev-page"`)
	assert.Equal(t, "/live?new=orders", bodyLive(t, p.Body), "page 1: a new order appears live")
	assert.Contains(t, p.Body, `<template id="order-row">`)

	p = s.get(t, "/orders?status=created%2Cawaiting%3Apayment&after=O-NEXT")
	sent, _ = s.api.last("GET", "/api/orders")
	assert.Equal(t, url.Values{"limit": {"20"}, "after": {"O-NEXT"}, "status": {"created,awaiting:payment"}}, sent.Query)
	assert.Contains(t, p.Body, `<option value="created,awaiting:payment" selected>Awaiting payment</option>`)
	assert.Equal(t, "/orders?after=O-PREV&status=created%2Cawaiting%3Apayment", linkHref(t, p.Body, "prev-page"))
	assert.Equal(t, "/live", bodyLive(t, p.Body))
}

func TestLinkHeadersBecomeThePagesLinks(t *testing.T) {
	h := http.Header{}
	h.Add("Link", `<https://api.example/api/tickets?status=available,sold&limit=20&after=A>; title="x"; rel=next, </api/tickets?limit=50&after=B>; rel="prev start"`)
	h.Add("Link", `</api/tickets?after=C>; rel="alternate"`)
	p := catalogList.links(h)
	assert.Equal(t, "/?after=A&status=available%2Csold", p.Next, "the usual page size is left out; the host is never followed")
	assert.Equal(t, "/?after=B&limit=50", p.Prev)
	assert.False(t, p.First)

	p = catalogList.links(http.Header{})
	assert.Equal(t, pager{First: true}, p, "no links: the only page")
}

// Layout is checked in a browser by the end-to-end tests; this holds the
// rules they rely on in place: a title wraps inside its own cell, and
// prices, states and buttons never break.
func TestLongTitlesWrapInTheirOwnCellWhilePricesStatesAndButtonsNeverBreak(t *testing.T) {
	s := newSite(t)
	css := s.get(t, "/static/app.css").Body
	assert.Regexp(t, `\.ticket-title \{[^}]*overflow-wrap: anywhere`, css)
	assert.Regexp(t, `\.ticket-price, \.nowrap, \.badge, \.btn, \.countdown, time \{ white-space: nowrap;`, css)

	long := strings.Repeat("W", 200)
	s.api.json("GET /api/tickets", 200, `[{"id":"t1","title":"`+long+`","price":1000000,"userId":"u2","status":"available"}]`)
	p := s.get(t, "/")
	assert.Regexp(t, `<td class="ticket-title">`+long+`</td>\s*<td class="ticket-price">\$1,000,000.00</td>\s*<td class="nowrap">`, p.Body)
}
