package main

import (
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"ticketing.dev/common/validate"
)

// A list open on its first page, newest first, shows a ticket listed
// meanwhile only if the ticket belongs on it. Its live stream (live.go)
// checks each new listing against the page's filters here, as
// GET /api/tickets applies them (DESIGN §2b).

// ticketFilter is a list page's filters.
type ticketFilter struct {
	words    []string        // folded; each must begin a word of the title
	statuses map[string]bool // empty: any status
	min, max int64           // cents, inclusive; max < 0: no upper bound
	seller   string          // a user id, "me", or "" for anyone
}

// parseTicketFilter reads a list page's filters from its parameters. ok
// is false for a value the API refuses: such a page lists nothing, and
// nothing is added to it live either.
func parseTicketFilter(q url.Values) (f ticketFilter, ok bool) {
	f = ticketFilter{words: foldWords(q.Get("q")), max: -1, seller: q.Get("seller")}
	if s := q.Get("status"); s != "" {
		f.statuses = map[string]bool{}
		for st := range strings.SplitSeq(s, ",") {
			switch st {
			case statusAvailable, statusReserved, statusSold:
				f.statuses[st] = true
			default:
				return f, false
			}
		}
	}
	if s := q.Get("minPrice"); s != "" {
		if f.min, ok = dollarsToCents(s); !ok {
			return f, false
		}
	}
	if s := q.Get("maxPrice"); s != "" {
		if f.max, ok = dollarsToCents(s); !ok {
			return f, false
		}
	}
	if f.max >= 0 && f.min > f.max {
		return f, false
	}
	return f, true
}

// dollarsToCents reads a price bound: a plain decimal number, as a price
// is written (validate.ParsePrice), to the cent.
func dollarsToCents(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune("0123456789.eE+-", r) }) >= 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v > math.MaxInt64/1000 {
		return 0, false
	}
	return validate.Price(v).Cents(), true
}

// match reports whether t belongs on the page; me is the user the page is
// for ("" signed out), whom seller=me names.
func (f ticketFilter) match(t liveTicket, me string) bool {
	if len(f.statuses) > 0 && !f.statuses[t.Status] {
		return false
	}
	cents := validate.Price(t.Price).Cents()
	if cents < f.min || (f.max >= 0 && cents > f.max) {
		return false
	}
	switch f.seller {
	case "":
	case "me":
		if me == "" || t.UserID != me {
			return false
		}
	default:
		if t.UserID != f.seller {
			return false
		}
	}
	title := foldWords(t.Title)
	for _, w := range f.words {
		if !slices.ContainsFunc(title, func(tw string) bool { return strings.HasPrefix(tw, w) }) {
			return false
		}
	}
	return true
}

// foldWords splits s into words (runs of letters and digits) in lower case
// without accents, so "Café" and "cafe" are one word and "jazz-fest" two.
func foldWords(s string) []string {
	// A transformer holds state: one per call, so streams may share none.
	strip := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	folded, _, err := transform.String(strip, s)
	if err != nil {
		folded = s
	}
	return strings.FieldsFunc(strings.ToLower(folded), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	})
}
