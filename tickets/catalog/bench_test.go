package catalog

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// A synthetic catalogue: titles of 30 to 60 characters from a vocabulary
// of 3,000 made-up words picked with a Zipf skew (a few common, most
// rare), "Zephyr" in 1% of titles, prices from $5 to $500 in 50-cent
// steps, 70% available, 20% reserved, 10% sold, 20 tickets per seller.
const (
	benchVocab   = 3000
	markerWord   = "Zephyr"
	benchSellers = 20 // tickets per seller
)

var benchSyllables = strings.Fields("ba be bi bo bu ca ce co cu da de di do fa fe fi fo ga ge go ha he hi ho " +
	"ja jo ka ke ki ko la le li lo lu ma me mi mo mu na ne ni no nu pa pe pi po ra re ri ro ru sa se si so su " +
	"ta te ti to tu va ve vi vo wa we wi xa ya yo")

func benchItems(n int, yield func(Item)) {
	r := rand.New(rand.NewPCG(42, uint64(n)))
	vocab := make([]string, benchVocab)
	for i := range vocab {
		var b strings.Builder
		for range 2 + r.IntN(3) {
			b.WriteString(benchSyllables[r.IntN(len(benchSyllables))])
		}
		w := b.String()
		if r.IntN(2) == 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		vocab[i] = w
	}
	zipf := rand.NewZipf(r, 1.1, 2, benchVocab-1)
	var s seq
	for i := range n {
		var title []string
		length := 0
		if i%100 == 50 {
			title = append(title, markerWord)
			length = len(markerWord)
		}
		target := 30 + r.IntN(31)
		for length < target-3 {
			w := vocab[zipf.Uint64()]
			if length+1+len(w) > 60 {
				break
			}
			title = append(title, w)
			length += 1 + len(w)
		}
		r.Shuffle(len(title), func(i, j int) { title[i], title[j] = title[j], title[i] })
		it := Item{
			ID:     s.next(),
			Title:  strings.Join(title, " "),
			Price:  float64(500+50*r.IntN(991)) / 100,
			UserID: userID(r.IntN(n/benchSellers + 1)),
		}
		switch x := r.IntN(10); {
		case x == 9:
			it.OrderID, it.Sold = idAt(2, uint64(i)).Hex(), true
		case x >= 7:
			it.OrderID = idAt(2, uint64(i)).Hex()
		}
		yield(it)
	}
}

var (
	benchMu       sync.Mutex
	benchCatalogs = map[int]*Catalog{}
)

func benchCatalog(n int) *Catalog {
	benchMu.Lock()
	defer benchMu.Unlock()
	if c := benchCatalogs[n]; c != nil {
		return c
	}
	c := New()
	benchItems(n, func(it Item) { c.Put(it) })
	benchCatalogs[n] = c
	return c
}

// BenchmarkFind shows a page's cost at three catalogue sizes; a flat
// ns/op across sizes is the point (docs/CONTRACT.md §2b).
func BenchmarkFind(b *testing.B) {
	cases := []struct {
		name string
		q    func(q *Query, c *Catalog)
	}{
		{"newest_available", func(q *Query, _ *Catalog) { q.Statuses = []Status{Available} }},
		{"search_1pct", func(q *Query, _ *Catalog) { q.Words = Words(markerWord) }},
		{"search_1pct_available", func(q *Query, _ *Catalog) {
			q.Words = Words(markerWord)
			q.Statuses = []Status{Available}
		}},
		{"search_common_prefix", func(q *Query, _ *Catalog) { q.Words = Words("ba") }},
		{"price_range_by_price", func(q *Query, _ *Catalog) { q.MinCents, q.MaxCents, q.Sort = 2000, 4000, Price }},
		{"price_range_newest", func(q *Query, _ *Catalog) { q.MinCents, q.MaxCents = 2000, 4000 }},
		{"price_desc_available", func(q *Query, _ *Catalog) { q.Sort, q.Statuses = PriceDesc, []Status{Available} }},
		{"seller_newest", func(q *Query, _ *Catalog) { q.Seller = userID(1) }},
		{"seller_by_price", func(q *Query, _ *Catalog) { q.Seller, q.Sort = userID(1), Price }},
		// Page 50, or the last page when there are fewer (5 at n=100).
		{"page50_newest", func(q *Query, c *Catalog) {
			for range 49 {
				p, _ := c.Find(*q)
				if p.Next == "" {
					break
				}
				q.Cursor = p.Next
			}
		}},
		// Collected and sorted: costs the matches (1% of the catalogue).
		{"search_1pct_by_price", func(q *Query, _ *Catalog) { q.Words, q.Sort = Words(markerWord), Price }},
	}
	for _, tc := range cases {
		for _, n := range []int{100, 10_000, 100_000} {
			b.Run(fmt.Sprintf("%s/n=%d", tc.name, n), func(b *testing.B) {
				c := benchCatalog(n)
				q := query(DefaultLimit, nil)
				tc.q(&q, c)
				if _, err := c.Find(q); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					c.Find(q)
				}
			})
		}
	}
}

// BenchmarkPut is the cost of keeping the model current: a new ticket,
// and a change of price and status, at 100,000 tickets.
func BenchmarkPut(b *testing.B) {
	c := New()
	var last Item
	benchItems(100_000, func(it Item) { c.Put(it); last = it })
	b.ReportAllocs()
	for b.Loop() {
		last.Version++
		last.Price += 0.5
		last.OrderID = map[bool]string{true: "", false: "o"}[last.OrderID != ""]
		c.Put(last)
	}
}

// BenchmarkMemoryPerTicket reports the heap a 100,000-ticket catalogue
// holds, per ticket (B/ticket), everything included: items, titles,
// indexes, vocabulary. It builds the catalogue once, whatever -benchtime
// says.
func BenchmarkMemoryPerTicket(b *testing.B) {
	const n = 100_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := New()
	benchItems(n, func(it Item) { c.Put(it) })
	runtime.GC()
	runtime.ReadMemStats(&after)
	for b.Loop() {
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/ticket")
	b.ReportMetric(float64(c.vocab.Len()), "words")
	b.ReportMetric(float64(c.postings.Len())/n, "postings/ticket")
	runtime.KeepAlive(c)
}
