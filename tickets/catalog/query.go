package catalog

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/validate"
)

// Sort is the order of a page; ties on price go to the newest.
type Sort uint8

// The sorts, as the sort parameter names them.
const (
	Newest    Sort = iota // newest first, the default
	Oldest                // oldest first, wave 2's paged list
	Price                 // price low to high
	PriceDesc             // price high to low
	numSorts
)

var sortNames = [numSorts]string{"newest", "oldest", "price", "-price"}

func (s Sort) String() string {
	if s < numSorts {
		return sortNames[s]
	}
	return "unknown"
}

// The bounds of limit.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// NoBound is a price bound that is not given.
const NoBound = -1

// Query is one page request of the catalogue.
type Query struct {
	// Words are search words (Find folds them as Words does); a ticket
	// matches when each is the start of a word of its title.
	Words    []string
	Statuses []Status // empty: any
	// MinCents and MaxCents are inclusive bounds, NoBound when not given.
	MinCents, MaxCents int64
	Seller             string // a user id; "" for any
	Sort               Sort
	Limit              int    // 1 to MaxLimit
	Cursor             string // Page.Next or Page.Prev of a page before, or a ticket id; "" for the first page
}

// Page is a page of a Query's matches, in the query's order.
type Page struct {
	Items []Item
	// Next and Prev are the cursors of the pages after and before this
	// one, "" when no match lies that way.
	Next, Prev string
}

// FieldError is a bad query parameter and what it allows.
type FieldError struct {
	Field   string
	Message string
}

// FieldErrors lists every bad parameter of a query, for a 400 that names
// each (the handler maps them to the error envelope's field and message).
type FieldErrors []FieldError

func (e FieldErrors) Error() string {
	msgs := make([]string, len(e))
	for i, f := range e {
		msgs[i] = f.Message
	}
	return "catalog: bad query: " + strings.Join(msgs, "; ")
}

// ErrSignInRequired is seller=me without a signed-in user (a 401).
var ErrSignInRequired = errors.New("catalog: seller=me needs a signed-in user")

// The query parameters of the catalogue (docs/CONTRACT.md §2b), and wave
// 2's, which it keeps.
var (
	catalogueParams = []string{"q", "status", "minPrice", "maxPrice", "seller", "sort"}
	wave2Params     = []string{"limit", "after"}
)

// Unpaged reports whether v asks for the original's answer: none of the
// catalogue's parameters, so every ticket, oldest first, unpaged. A
// parameter counts when present, even empty (?limit= is a 400, as in
// wave 2). Other parameters are ignored.
func Unpaged(v url.Values) bool {
	return !anyOf(v, catalogueParams) && !anyOf(v, wave2Params)
}

func anyOf(v url.Values, params []string) bool {
	for _, p := range params {
		if _, ok := v[p]; ok {
			return true
		}
	}
	return false
}

// The messages of bad values: each names its parameter and what it takes.
const (
	msgStatus = "status must be available, reserved or sold, or several of them separated by commas"
	msgSort   = "sort must be newest, oldest, price or -price"
	msgSeller = "seller must be a user id (24 hexadecimal digits) or me"
	msgAfter  = "after must be the cursor of a page's Link, or the id of a ticket"
	msgTwice  = "%s must be given once"
)

var msgLimit = fmt.Sprintf("limit must be a whole number from 1 to %d", MaxLimit)

func msgPrice(field string) string {
	return field + " must be a number from 0.50 to 1000000 with at most 2 decimals, like 20 or 20.50"
}

// ParseQuery reads a page request from the query parameters of
// GET /api/tickets (docs/CONTRACT.md §2b); me is the signed-in user's id,
// "" when signed out. Every bad parameter is reported at once, as
// FieldErrors; seller=me signed out is ErrSignInRequired, reported only
// when nothing else is wrong (the request would be refused whoever sent
// it). Unknown parameters are ignored.
//
// A parameter given twice is refused, as wave 2 refused a second limit or
// after: which one was meant is a guess. status is the exception: its
// values add up (status=available&status=sold, as a form's check boxes
// send them, is status=available,sold).
//
// An empty q, status, minPrice, maxPrice or seller is no filter, and an
// empty sort the default, as a search form sends its blank fields; an
// empty limit or after is refused, as in wave 2.
//
// The sort is newest first whenever a catalogue parameter is given, but
// oldest first when only limit and after are: that is wave 2's paged
// list, whose clients follow after=<last id> oldest first.
func ParseQuery(v url.Values, me string) (Query, error) {
	q := Query{MinCents: NoBound, MaxCents: NoBound, Limit: DefaultLimit}
	var bad FieldErrors
	fail := func(field, msg string) { bad = append(bad, FieldError{Field: field, Message: msg}) }
	// one returns the parameter's value, "" when absent, and whether it
	// is usable (present at most once).
	one := func(field string) (string, bool) {
		vs := v[field]
		if len(vs) > 1 {
			fail(field, fmt.Sprintf(msgTwice, field))
			return "", false
		}
		if len(vs) == 0 {
			return "", true
		}
		return strings.TrimSpace(vs[0]), true
	}

	if s, ok := one("q"); ok {
		q.Words = Words(s)
	}

	if vs, ok := v["status"]; ok {
		var seen [numStatuses]bool
	values:
		for _, s := range strings.Split(strings.Join(vs, ","), ",") {
			s = strings.ToLower(strings.TrimSpace(s))
			if s == "" {
				continue
			}
			for st, name := range statusNames {
				if s == name {
					if !seen[st] {
						seen[st] = true
						q.Statuses = append(q.Statuses, Status(st))
					}
					continue values
				}
			}
			fail("status", msgStatus)
			break
		}
	}

	minOK, maxOK := true, true
	for _, p := range []struct {
		field string
		cents *int64
		ok    *bool
	}{{"minPrice", &q.MinCents, &minOK}, {"maxPrice", &q.MaxCents, &maxOK}} {
		s, ok := one(p.field)
		if !ok {
			*p.ok = false
			continue
		}
		if s == "" {
			continue
		}
		price, err := validate.ParsePrice(s)
		if err != nil {
			fail(p.field, msgPrice(p.field))
			*p.ok = false
			continue
		}
		*p.cents = price.Cents()
	}
	if minOK && maxOK && q.MinCents != NoBound && q.MaxCents != NoBound && q.MinCents > q.MaxCents {
		fail("maxPrice", "maxPrice must not be below minPrice")
	}

	signIn := false
	if s, ok := one("seller"); ok && s != "" {
		if s == "me" {
			q.Seller = me
			signIn = me == ""
		} else if id, err := primitive.ObjectIDFromHex(s); err == nil {
			q.Seller = id.Hex() // user ids are stored in lower case
		} else {
			fail("seller", msgSeller)
		}
	}

	sortOK := true // known, so a cursor can be checked against it
	if s, ok := one("sort"); !ok {
		sortOK = false
	} else if s != "" {
		q.Sort = numSorts
		for st, name := range sortNames {
			if strings.ToLower(s) == name {
				q.Sort = Sort(st)
			}
		}
		if q.Sort == numSorts {
			fail("sort", msgSort)
			sortOK = false
		}
	} else if !anyOf(v, catalogueParams) {
		q.Sort = Oldest // only limit and after: wave 2's list
	}

	if _, ok := v["limit"]; ok {
		if s, ok := one("limit"); ok {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > MaxLimit {
				fail("limit", msgLimit)
			}
			q.Limit = n
		}
	}

	if _, ok := v["after"]; ok {
		if s, ok := one("after"); ok {
			q.Cursor = s
			switch cur, err := decodeCursor(s); {
			case isTicketID(s):
				// wave 2: after that ticket, in this query's sort
			case err != nil:
				fail("after", msgAfter)
			case cur.sort != q.Sort && sortOK:
				fail("after", fmt.Sprintf("after is a cursor of sort=%s; it cannot page sort=%s (start again without after)", cur.sort, q.Sort))
			}
		}
	}

	if bad != nil {
		return Query{}, bad
	}
	if signIn {
		return Query{}, ErrSignInRequired
	}
	return q, nil
}

// isTicketID reports whether s is a ticket id, wave 2's cursor.
func isTicketID(s string) bool {
	_, err := primitive.ObjectIDFromHex(s)
	return err == nil
}
