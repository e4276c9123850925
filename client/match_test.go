package main

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLiveMatchAppliesThePagesFilters(t *testing.T) {
	jazz := liveTicket{ID: "t1", Title: "Jazz Festival 2027", Price: 20, UserID: "u1", Status: statusAvailable}
	cafe := liveTicket{ID: "t2", Title: "Café Müller — Pina Bausch", Price: 1000000, UserID: "u2", Status: statusAvailable}
	for _, c := range []struct {
		query  string
		ticket liveTicket
		me     string
		want   bool
	}{
		{"", jazz, "", true},
		{"q=jazz+fest", jazz, "", true},
		{"q=JAZZ+2027", jazz, "", true},
		{"q=fest", liveTicket{Title: "A manifesto", Status: statusAvailable, Price: 1}, "", false}, // a word prefix, not a substring
		{"q=jazz+rock", jazz, "", false},  // every word
		{"q=cafe+muller", cafe, "", true}, // accents and case ignored
		{"q=CAFÉ", cafe, "", true},
		{"q=pina-bau", cafe, "", true},
		{"status=available", jazz, "", true},
		{"status=reserved,sold", jazz, "", false},
		{"status=sold,available", jazz, "", true},
		{"minPrice=20&maxPrice=20", jazz, "", true}, // inclusive
		{"minPrice=20.01", jazz, "", false},
		{"maxPrice=19.99", jazz, "", false},
		{"maxPrice=1000000", cafe, "", true},
		{"minPrice=0", jazz, "", true},
		{"seller=me", jazz, "u1", true},
		{"seller=me", jazz, "u2", false},
		{"seller=me", jazz, "", false}, // signed out: nobody's
		{"seller=u2", cafe, "", true},
		{"seller=u2", jazz, "", false},
		{"q=jazz&status=available&minPrice=10&maxPrice=30&seller=me", jazz, "u1", true},
	} {
		q, _ := url.ParseQuery(c.query)
		f, ok := parseTicketFilter(q)
		assert.True(t, ok, c.query)
		assert.Equal(t, c.want, f.match(c.ticket, c.me), "%s ~ %q", c.query, c.ticket.Title)
	}
}

func TestLiveMatchAddsNothingToAPageTheAPIRefused(t *testing.T) {
	for _, query := range []string{"status=gone", "minPrice=abc", "maxPrice=1,000", "minPrice=30&maxPrice=10", "minPrice=-1"} {
		q, _ := url.ParseQuery(query)
		_, ok := parseTicketFilter(q)
		assert.False(t, ok, query)
	}
}
