package catalog

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson/primitive"
)

// idAt is a deterministic ObjectID: second sec, then n. Greater is newer.
func idAt(sec uint32, n uint64) primitive.ObjectID {
	var id primitive.ObjectID
	binary.BigEndian.PutUint32(id[:4], sec)
	binary.BigEndian.PutUint64(id[4:], n)
	return id
}

// seq hands out ids in creation order, as a tickets service would.
type seq struct{ n uint32 }

func (s *seq) next() primitive.ObjectID {
	s.n++
	return idAt(1_700_000_000+s.n/4, uint64(s.n))
}

func userID(n int) string { return idAt(1_600_000_000, uint64(n)).Hex() }

var testWords = strings.Fields("jazz festival rock concert opera ballet tour live night summer winter " +
	"café théâtre orchestra symphony stadium arena club dance party comedy show theatre hall " +
	"2025 2026 2027 vip pass front row balcony seat gala premiere encore manifesto fest jazzy")

// randomItem is a ticket with a title of 2 to 5 of testWords, a price in
// a few round values (so many share a price), a seller among a few and a
// random status.
func randomItem(r *rand.Rand, id primitive.ObjectID, sellers int) Item {
	n := 2 + r.IntN(4)
	ws := make([]string, n)
	for i := range ws {
		ws[i] = testWords[r.IntN(len(testWords))]
		if r.IntN(3) == 0 {
			ws[i] = strings.ToUpper(ws[i][:1]) + ws[i][1:]
		}
	}
	it := Item{
		ID:     id,
		Title:  strings.Join(ws, " "),
		Price:  float64(50+r.IntN(20)*25) / 100 * 10,
		UserID: userID(r.IntN(sellers)),
	}
	switch r.IntN(4) {
	case 1:
		it.OrderID = idAt(1, uint64(r.Uint32())).Hex()
	case 2:
		it.OrderID = idAt(1, uint64(r.Uint32())).Hex()
		it.Sold = true
	}
	return it
}

// brute is the reference answer: every match of q in q's sort, found by
// checking every item.
func brute(c *Catalog, q Query) []Item {
	f := newFilter(q)
	var out []*entry
	c.mu.RLock()
	for _, e := range c.byID {
		if f.match(e) {
			out = append(out, e)
		}
	}
	c.mu.RUnlock()
	o := orderOf(q.Sort, false)
	slices.SortFunc(out, func(a, b *entry) int { return o.cmp(a.pos(), b.pos()) })
	return items(out)
}

func ids(its []Item) []string {
	out := make([]string, len(its))
	for i, it := range its {
		out[i] = fmt.Sprintf("%s %.2f %q", it.ID.Hex()[16:], it.Price, it.Title)
	}
	return out
}

// walk follows Next from the first page to the end and returns the pages;
// between pages it calls between (may be nil).
func walk(t *testing.T, c *Catalog, q Query, between func(page int)) []Page {
	t.Helper()
	var pages []Page
	q.Cursor = ""
	for i := 0; ; i++ {
		p, err := c.Find(q)
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		if (i == 0) != (p.Prev == "") {
			t.Fatalf("page %d: Prev %q", i, p.Prev)
		}
		pages = append(pages, p)
		if p.Next == "" {
			return pages
		}
		if i > 10_000 {
			t.Fatal("walk does not end")
		}
		if between != nil {
			between(i)
		}
		q.Cursor = p.Next
	}
}

func flatten(pages []Page) []Item {
	var out []Item
	for _, p := range pages {
		out = append(out, p.Items...)
	}
	return out
}

func mustFind(t *testing.T, c *Catalog, q Query) Page {
	t.Helper()
	p, err := c.Find(q)
	if err != nil {
		t.Fatalf("Find(%+v): %v", q, err)
	}
	return p
}

// query is a Query with no price bounds and the given changes.
func query(limit int, change func(*Query)) Query {
	q := Query{MinCents: NoBound, MaxCents: NoBound, Limit: limit}
	if change != nil {
		change(&q)
	}
	return q
}
