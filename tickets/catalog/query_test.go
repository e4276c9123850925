package catalog

import (
	"errors"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const me = "65a1b2c3d4e5f60718293a4b"

func parse(t *testing.T, raw string, me string) (Query, error) {
	t.Helper()
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	return ParseQuery(v, me)
}

func TestParseQueryReadsEachParameter(t *testing.T) {
	nextCursor := cursor{sort: Price, at: pos{cents: 2050, id: toOID(idAt(5, 6))}}.String()
	for _, tc := range []struct {
		raw  string
		want Query
	}{
		{"q=Jazz+Fête", query(20, func(q *Query) { q.Words = []string{"jazz", "fete"} })},
		{"status=sold", query(20, func(q *Query) { q.Statuses = []Status{Sold} })},
		{"status=available,reserved", query(20, func(q *Query) { q.Statuses = []Status{Available, Reserved} })},
		{"status=Reserved,+available,reserved", query(20, func(q *Query) { q.Statuses = []Status{Reserved, Available} })},
		{"status=available&status=sold", query(20, func(q *Query) { q.Statuses = []Status{Available, Sold} })},
		{"minPrice=20", query(20, func(q *Query) { q.MinCents = 2000 })},
		{"maxPrice=20.5", query(20, func(q *Query) { q.MaxCents = 2050 })},
		{"minPrice=0.50&maxPrice=0.50", query(20, func(q *Query) { q.MinCents, q.MaxCents = 50, 50 })},
		{"minPrice=1e3&maxPrice=1000000", query(20, func(q *Query) { q.MinCents, q.MaxCents = 100000, 100000000 })},
		{"seller=" + strings.ToUpper(me), query(20, func(q *Query) { q.Seller = me })},
		{"seller=me", query(20, func(q *Query) { q.Seller = me })},
		{"sort=newest", query(20, nil)},
		{"sort=oldest", query(20, func(q *Query) { q.Sort = Oldest })},
		{"sort=price", query(20, func(q *Query) { q.Sort = Price })},
		{"sort=-price", query(20, func(q *Query) { q.Sort = PriceDesc })},
		{"limit=1", query(1, func(q *Query) { q.Sort = Oldest })},
		{"limit=100&sort=newest", query(100, nil)},
		{"sort=price&after=" + nextCursor, query(20, func(q *Query) { q.Sort, q.Cursor = Price, nextCursor })},
		{"after=" + me, query(20, func(q *Query) { q.Sort, q.Cursor = Oldest, me })},
		{"after=" + me + "&sort=price", query(20, func(q *Query) { q.Sort, q.Cursor = Price, me })},
		{"q=&status=&minPrice=&maxPrice=&seller=&sort=", query(20, nil)},
		{"color=red&page=3&q=rock", query(20, func(q *Query) { q.Words = []string{"rock"} })},
	} {
		got, err := parse(t, tc.raw, me)
		if err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		if len(got.Words) == 0 {
			got.Words = nil
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.raw, got, tc.want)
		}
	}
}

func TestParseQueryDefaultsToNewestFirstTwentyButWave2PagesOldestFirst(t *testing.T) {
	for raw, want := range map[string]Sort{
		"q=rock":           Newest,
		"status=available": Newest,
		"limit=5&q=":       Newest,
		"limit=5":          Oldest, // wave 2: ?limit=N pages oldest first
		"after=" + me:      Oldest,
	} {
		q, err := parse(t, raw, "")
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if q.Sort != want {
			t.Errorf("%s: sort %v, want %v", raw, q.Sort, want)
		}
		if !strings.Contains(raw, "limit") && q.Limit != DefaultLimit {
			t.Errorf("%s: limit %d, want %d", raw, q.Limit, DefaultLimit)
		}
	}
}

func TestParseQueryListsEveryBadFieldAtOnceNamingIt(t *testing.T) {
	otherSort := cursor{sort: Price}.String()
	for _, tc := range []struct {
		raw    string
		fields []string
	}{
		{"sort=cheap", []string{"sort"}},
		{"status=gone", []string{"status"}},
		{"status=available,gone", []string{"status"}},
		{"limit=0", []string{"limit"}},
		{"limit=101", []string{"limit"}},
		{"limit=-1", []string{"limit"}},
		{"limit=1.5", []string{"limit"}},
		{"limit=abc", []string{"limit"}},
		{"limit=", []string{"limit"}},
		{"minPrice=abc", []string{"minPrice"}},
		{"minPrice=$5", []string{"minPrice"}},
		{"minPrice=1,000", []string{"minPrice"}},
		{"maxPrice=0.10", []string{"maxPrice"}},
		{"maxPrice=1000001", []string{"maxPrice"}},
		{"maxPrice=NaN", []string{"maxPrice"}},
		{"maxPrice=%2220.5%22", []string{"maxPrice"}},
		{"minPrice=30&maxPrice=20", []string{"maxPrice"}},
		{"seller=xyz", []string{"seller"}},
		{"seller=65a1b2c3d4e5f60718293a4", []string{"seller"}},
		{"after=nope", []string{"after"}},
		{"after=123", []string{"after"}},
		{"after=", []string{"after"}},
		{"after=" + otherSort, []string{"after"}},
		{"after=" + otherSort + "&sort=-price", []string{"after"}},
		{"limit=1&limit=2", []string{"limit"}},
		{"sort=price&sort=price", []string{"sort"}},
		{"q=a&q=b", []string{"q"}},
		{"sort=cheap&status=gone&limit=0&minPrice=abc&maxPrice=x&seller=xyz&after=nope",
			[]string{"status", "minPrice", "maxPrice", "seller", "sort", "limit", "after"}},
		{"seller=me&limit=0", []string{"limit"}}, // a 400 before the 401
	} {
		_, err := parse(t, tc.raw, "")
		var fe FieldErrors
		if !errors.As(err, &fe) {
			t.Errorf("%s: %v, want FieldErrors", tc.raw, err)
			continue
		}
		var fields []string
		for _, f := range fe {
			fields = append(fields, f.Field)
			if !strings.Contains(f.Message, f.Field) {
				t.Errorf("%s: message %q does not name %s", tc.raw, f.Message, f.Field)
			}
		}
		if !slices.Equal(fields, tc.fields) {
			t.Errorf("%s: fields %q, want %q", tc.raw, fields, tc.fields)
		}
	}
}

func TestParseQuerySaysWhatEachFieldAllows(t *testing.T) {
	_, err := parse(t, "sort=cheap&status=gone&limit=101&minPrice=abc", "")
	msg := err.Error()
	for _, want := range []string{"newest, oldest, price or -price", "available, reserved or sold", "1 to 100", "0.50 to 1000000"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
}

func TestSellerMeSignedOutIsSignInRequired(t *testing.T) {
	if _, err := parse(t, "seller=me", ""); !errors.Is(err, ErrSignInRequired) {
		t.Errorf("seller=me signed out: %v, want ErrSignInRequired", err)
	}
	q, err := parse(t, "seller=me", me)
	if err != nil || q.Seller != me {
		t.Errorf("seller=me signed in: %+v, %v", q, err)
	}
	// Someone else's listings need no session.
	if q, err := parse(t, "seller="+me, ""); err != nil || q.Seller != me {
		t.Errorf("seller=<id> signed out: %+v, %v", q, err)
	}
}

func TestUnpagedOnlyWithoutAnyCatalogueParameter(t *testing.T) {
	for raw, want := range map[string]bool{
		"":                 true,
		"color=red&x=1":    true,
		"q=":               false,
		"q=rock":           false,
		"status=sold":      false,
		"minPrice=1":       false,
		"maxPrice=1":       false,
		"seller=me":        false,
		"sort=oldest":      false,
		"limit=5":          false,
		"after=" + me:      false,
		"limit=":           false, // still a 400, as in wave 2
		"Q=rock&LIMIT=500": true,  // names are case-sensitive, as all of the API's
	} {
		v, _ := url.ParseQuery(raw)
		if got := Unpaged(v); got != want {
			t.Errorf("Unpaged(%q) = %v, want %v", raw, got, want)
		}
	}
}
