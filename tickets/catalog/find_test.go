package catalog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/bson/primitive"
)

// randomQueries are combinations of every condition and sort.
func randomQuery(r *rand.Rand, sellers int) Query {
	q := query(1+r.IntN(7), nil)
	q.Sort = Sort(r.IntN(int(numSorts)))
	if r.IntN(2) == 0 {
		for _, s := range []Status{Available, Reserved, Sold} {
			if r.IntN(2) == 0 {
				q.Statuses = append(q.Statuses, s)
			}
		}
	}
	if r.IntN(3) == 0 {
		q.MinCents = int64(500 + r.IntN(10)*250)
	}
	if r.IntN(3) == 0 {
		q.MaxCents = int64(1000 + r.IntN(20)*250)
	}
	if r.IntN(3) == 0 {
		q.Seller = userID(r.IntN(sellers + 1))
	}
	switch r.IntN(4) {
	case 1:
		w := testWords[r.IntN(len(testWords))]
		q.Words = Words(w[:1+r.IntN(len(w))])
	case 2:
		q.Words = Words(testWords[r.IntN(len(testWords))] + " " + testWords[r.IntN(len(testWords))])
	}
	return q
}

func TestEveryQueryWalksToExactlyTheMatchesInOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, 30, 600} {
		c := New()
		var s seq
		const sellers = 5
		for range size {
			c.Put(randomItem(r, s.next(), sellers))
		}
		for i := range 300 {
			q := randomQuery(r, sellers)
			want := brute(c, q)
			pages := walk(t, c, q, nil)
			got := flatten(pages)
			if !slices.Equal(ids(got), ids(want)) {
				t.Fatalf("size %d, query %d %+v:\n got %v\nwant %v", size, i, q, ids(got), ids(want))
			}
			for j, p := range pages[:len(pages)-1] {
				if len(p.Items) != q.Limit {
					t.Fatalf("size %d, query %+v: page %d has %d items, want %d", size, q, j, len(p.Items), q.Limit)
				}
			}
			// And back: each Prev gives the page before.
			for j := len(pages) - 1; j > 0; j-- {
				qq := q
				qq.Cursor = pages[j].Prev
				back := mustFind(t, c, qq)
				if !slices.Equal(ids(back.Items), ids(pages[j-1].Items)) {
					t.Fatalf("size %d, query %+v: Prev of page %d:\n got %v\nwant %v", size, q, j, ids(back.Items), ids(pages[j-1].Items))
				}
				if (j-1 == 0) != (back.Prev == "") || back.Next == "" {
					t.Fatalf("size %d, query %+v: Prev of page %d: Prev %q, Next %q", size, q, j, back.Prev, back.Next)
				}
			}
		}
	}
}

func TestSortsBreakPriceTiesByNewest(t *testing.T) {
	c := New()
	var s seq
	for _, price := range []float64{20, 10, 20, 30, 20, 10, 20} {
		c.Put(Item{ID: s.next(), Title: "Tie", Price: price, UserID: userID(1)})
	}
	titles := func(p Page) []string {
		var out []string
		for _, it := range p.Items {
			out = append(out, fmt.Sprintf("%g#%d", it.Price, s.index(it.ID)))
		}
		return out
	}
	for sort, want := range map[Sort][]string{
		Newest:    {"20#6", "10#5", "20#4", "30#3", "20#2", "10#1", "20#0"},
		Oldest:    {"20#0", "10#1", "20#2", "30#3", "20#4", "10#5", "20#6"},
		Price:     {"10#5", "10#1", "20#6", "20#4", "20#2", "20#0", "30#3"},
		PriceDesc: {"30#3", "20#6", "20#4", "20#2", "20#0", "10#5", "10#1"},
	} {
		for _, limit := range []int{1, 2, 3, 7} {
			q := query(limit, func(q *Query) { q.Sort = sort })
			if got := titles(Page{Items: flatten(walk(t, c, q, nil))}); !slices.Equal(got, want) {
				t.Errorf("sort=%v limit=%d: %v, want %v", sort, limit, got, want)
			}
		}
	}
}

// index is the position of id in the sequence, from 0.
func (s *seq) index(id primitive.ObjectID) int {
	return int(binary.BigEndian.Uint64(id[4:])) - 1
}

func TestEachFilterAndTheirCombinations(t *testing.T) {
	c := New()
	var s seq
	ann, bob := userID(1), userID(2)
	put := func(title string, price float64, seller string, status Status) {
		it := Item{ID: s.next(), Title: title, Price: price, UserID: seller}
		if status != Available {
			it.OrderID = idAt(3, uint64(s.n)).Hex()
			it.Sold = status == Sold
		}
		c.Put(it)
	}
	put("Jazz Festival 2027", 50, ann, Available) // 0
	put("Jazz club night", 15, bob, Reserved)     // 1
	put("Rock arena", 80, ann, Sold)              // 2
	put("Opera gala", 120, bob, Available)        // 3
	put("Jazz brunch", 25.5, ann, Available)      // 4
	put("Rock club", 15, bob, Sold)               // 5
	for _, tc := range []struct {
		name string
		q    func(*Query)
		want []int // newest first
	}{
		{"none", nil, []int{5, 4, 3, 2, 1, 0}},
		{"status=available", func(q *Query) { q.Statuses = []Status{Available} }, []int{4, 3, 0}},
		{"status=reserved", func(q *Query) { q.Statuses = []Status{Reserved} }, []int{1}},
		{"status=sold", func(q *Query) { q.Statuses = []Status{Sold} }, []int{5, 2}},
		{"status=reserved,sold", func(q *Query) { q.Statuses = []Status{Reserved, Sold} }, []int{5, 2, 1}},
		{"minPrice=25.50", func(q *Query) { q.MinCents = 2550 }, []int{4, 3, 2, 0}},
		{"maxPrice=25.50", func(q *Query) { q.MaxCents = 2550 }, []int{5, 4, 1}},
		{"minPrice=15&maxPrice=15", func(q *Query) { q.MinCents, q.MaxCents = 1500, 1500 }, []int{5, 1}},
		{"seller=ann", func(q *Query) { q.Seller = ann }, []int{4, 2, 0}},
		{"seller=unknown", func(q *Query) { q.Seller = userID(9) }, nil},
		{"q=jazz", func(q *Query) { q.Words = Words("jazz") }, []int{4, 1, 0}},
		{"q=club", func(q *Query) { q.Words = Words("club") }, []int{5, 1}},
		{"q=jazz&status=available", func(q *Query) { q.Words = Words("jazz"); q.Statuses = []Status{Available} }, []int{4, 0}},
		{"q=jazz&seller=bob", func(q *Query) { q.Words = Words("jazz"); q.Seller = bob }, []int{1}},
		{"q=club&maxPrice=15&status=sold", func(q *Query) { q.Words = Words("club"); q.MaxCents = 1500; q.Statuses = []Status{Sold} }, []int{5}},
		{"seller=bob&minPrice=20", func(q *Query) { q.Seller = bob; q.MinCents = 2000 }, []int{3}},
		{"seller=ann&status=available&maxPrice=49.99", func(q *Query) {
			q.Seller = ann
			q.Statuses = []Status{Available}
			q.MaxCents = 4999
		}, []int{4}},
	} {
		p := mustFind(t, c, query(10, tc.q))
		var got []int
		for _, it := range p.Items {
			got = append(got, s.index(it.ID))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestWalkSeesEveryMatchOnceWhileTicketsAreAddedAndRepriced walks each
// sort under several filters, adding tickets and repricing others between
// pages, as happens while a user pages through a live catalogue.
func TestWalkSeesEveryMatchOnceWhileTicketsAreAddedAndRepriced(t *testing.T) {
	filters := map[string]func(*Query){
		"none":      nil,
		"available": func(q *Query) { q.Statuses = []Status{Available} },
		"search":    func(q *Query) { q.Words = Words("jazz") },
		"price":     func(q *Query) { q.MinCents, q.MaxCents = 1000, 3000 },
		"seller":    func(q *Query) { q.Seller = userID(1) },
		"all": func(q *Query) {
			q.Statuses = []Status{Available, Reserved}
			q.Words = Words("night")
			q.MaxCents = 5000
		},
	}
	for sort := range numSorts {
		for name, filter := range filters {
			t.Run(sort.String()+"/"+name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(sort), 7))
				c := New()
				var s seq
				for range 400 {
					c.Put(randomItem(r, s.next(), 3))
				}
				q := query(7, filter)
				q.Sort = sort
				before := brute(c, q)
				repriced := map[primitive.ObjectID]bool{}
				added := map[primitive.ObjectID]bool{}
				pages := walk(t, c, q, func(int) {
					for range 3 {
						it := randomItem(r, s.next(), 3)
						c.Put(it)
						added[it.ID] = true
					}
					for range 3 {
						// Any ticket, or one of the matches (half the time).
						id := s.at(r.IntN(int(s.n)))
						if r.IntN(2) == 0 && len(before) > 0 {
							id = before[r.IntN(len(before))].ID
						}
						it, _ := c.Get(id)
						it.Price = float64(50+r.IntN(20)*25) / 10
						it.Version++
						c.Put(it)
						repriced[it.ID] = true
					}
				})
				seen := map[primitive.ObjectID]int{}
				for _, it := range flatten(pages) {
					seen[it.ID]++
					if seen[it.ID] > 1 && (sort == Newest || sort == Oldest) {
						t.Errorf("%s seen twice", it.ID.Hex())
					}
					if sort == Newest && added[it.ID] {
						t.Errorf("newest first: %s, added mid-walk, is behind the cursor", it.ID.Hex())
					}
				}
				priceFiltered := q.MinCents != NoBound || q.MaxCents != NoBound
				for _, it := range before {
					stays := !repriced[it.ID] || (sort == Newest || sort == Oldest) && !priceFiltered
					if stays && seen[it.ID] != 1 {
						t.Errorf("%s (%.2f %q) seen %d times", it.ID.Hex(), it.Price, it.Title, seen[it.ID])
					}
				}
				if sort == Oldest && !priceFiltered {
					for _, it := range brute(c, q) {
						if added[it.ID] && seen[it.ID] != 1 {
							t.Errorf("oldest first: %s, added mid-walk, seen %d times", it.ID.Hex(), seen[it.ID])
						}
					}
				}
				if len(pages) < 3 && len(before) > 14 {
					t.Errorf("only %d pages", len(pages))
				}
			})
		}
	}
}

// at is the id of the i-th ticket of the sequence.
func (s *seq) at(i int) primitive.ObjectID {
	return idAt(1_700_000_000+uint32(i+1)/4, uint64(i+1))
}

func TestWalkingPrevBackGivesTheSamePagesWhileNewTicketsArrive(t *testing.T) {
	for _, sort := range []Sort{Newest, Oldest, Price, PriceDesc} {
		r := rand.New(rand.NewPCG(5, uint64(sort)))
		c := New()
		var s seq
		for range 100 {
			c.Put(randomItem(r, s.next(), 3))
		}
		q := query(6, func(q *Query) { q.Sort = sort; q.Statuses = []Status{Available, Sold} })
		pages := walk(t, c, q, nil)
		// New tickets at a price no page shows yet: before the first page
		// when newest first, after the last otherwise.
		for range 5 {
			it := randomItem(r, s.next(), 3)
			it.OrderID, it.Sold = "", false
			it.Price = 1000000
			if sort == Price {
				it.Price = 99999
			}
			if sort == PriceDesc {
				it.Price = 0.5
			}
			c.Put(it)
		}
		back := q
		for j := len(pages) - 1; j > 0; j-- {
			back.Cursor = pages[j].Prev
			p := mustFind(t, c, back)
			if !slices.Equal(ids(p.Items), ids(pages[j-1].Items)) {
				t.Fatalf("sort=%v: Prev of page %d:\n got %v\nwant %v", sort, j, ids(p.Items), ids(pages[j-1].Items))
			}
			if j-1 == 0 && (p.Prev != "") != (sort == Newest) {
				t.Errorf("sort=%v: the first page again: Prev %q (new tickets precede it only newest first)", sort, p.Prev)
			}
			if p.Next != pages[j-1].Next {
				t.Errorf("sort=%v: page %d's Next differs walking back", sort, j-1)
			}
		}
	}
}

func TestWave2AfterTicketIDKeepsWorking(t *testing.T) {
	c := New()
	var s seq
	prices := []float64{30, 10, 20, 10, 40}
	for _, p := range prices {
		c.Put(Item{ID: s.next(), Title: "Show", Price: p, UserID: userID(1)})
	}
	pick := func(q Query) []int {
		var out []int
		for _, it := range mustFind(t, c, q).Items {
			out = append(out, s.index(it.ID))
		}
		return out
	}
	after := s.at(2).Hex()
	for _, tc := range []struct {
		sort Sort
		want []int
	}{
		{Oldest, []int{3, 4}},
		{Newest, []int{1, 0}},
		{Price, []int{0, 4}},     // 10#3 10#1 20#2 | 30#0 40#4
		{PriceDesc, []int{3, 1}}, // 40#4 30#0 20#2 | 10#3 10#1
	} {
		if got := pick(query(10, func(q *Query) { q.Sort, q.Cursor = tc.sort, after })); !slices.Equal(got, tc.want) {
			t.Errorf("sort=%v after=#2: %v, want %v", tc.sort, got, tc.want)
		}
	}
	// Under a price sort the ticket's current price places it.
	it, _ := c.Get(s.at(2))
	it.Price, it.Version = 35, 1
	c.Put(it)
	if got := pick(query(10, func(q *Query) { q.Sort, q.Cursor = Price, after })); !slices.Equal(got, []int{4}) {
		t.Errorf("sort=price after=#2 repriced to 35: %v, want [4]", got)
	}
	_, err := c.Find(query(10, func(q *Query) { q.Cursor = idAt(99, 99).Hex() }))
	var fe FieldErrors
	if !errors.As(err, &fe) || fe[0].Field != "after" {
		t.Errorf("after=<unknown id>: %v, want FieldErrors on after", err)
	}
}

func TestFindRefusesABadCursorOrOneOfAnotherSort(t *testing.T) {
	c := New()
	c.Put(Item{ID: idAt(1, 1), Title: "x", Price: 1, UserID: userID(1)})
	for _, cur := range []string{"nope", cursor{sort: Price}.String(), cursor{sort: Newest}.String()[:27] + "!"} {
		_, err := c.Find(query(5, func(q *Query) { q.Cursor = cur }))
		var fe FieldErrors
		if !errors.As(err, &fe) || fe[0].Field != "after" {
			t.Errorf("cursor %q: %v, want FieldErrors on after", cur, err)
		}
	}
}

func TestAPagePastEveryMatchIsEmptyAndPointsBack(t *testing.T) {
	c := New()
	var s seq
	for range 6 {
		c.Put(Item{ID: s.next(), Title: "Gig", Price: 10, UserID: userID(1)})
	}
	q := query(3, func(q *Query) { q.Sort = Oldest; q.Statuses = []Status{Available} })
	first := mustFind(t, c, q)
	// The rest sell meanwhile.
	for i := 3; i < 6; i++ {
		c.Put(Item{ID: s.at(i), Title: "Gig", Price: 10, UserID: userID(1), OrderID: "o", Sold: true, Version: 1})
	}
	q.Cursor = first.Next
	empty := mustFind(t, c, q)
	if len(empty.Items) != 0 || empty.Next != "" || empty.Prev == "" {
		t.Fatalf("past the end: %+v", empty)
	}
	q.Cursor = empty.Prev
	if back := mustFind(t, c, q); !slices.Equal(ids(back.Items), ids(first.Items)) || back.Prev != "" || back.Next != "" {
		t.Errorf("Prev of the empty page: %v (Prev %q, Next %q), want the first page and nothing around", ids(back.Items), back.Prev, back.Next)
	}
}

func TestFindBoundsTheLimit(t *testing.T) {
	c := New()
	var s seq
	for range 150 {
		c.Put(Item{ID: s.next(), Title: "Gig", Price: 10, UserID: userID(1)})
	}
	for limit, want := range map[int]int{0: DefaultLimit, -3: DefaultLimit, 1: 1, 100: 100, 500: MaxLimit} {
		if got := len(mustFind(t, c, query(limit, nil)).Items); got != want {
			t.Errorf("limit %d: %d items, want %d", limit, got, want)
		}
	}
}

// A title holding two words of a prefix ("Jazz" and "Jazzy" for "jaz") is
// in the postings of both; it is still one match, whichever plan answers
// (merged postings under newest and oldest, collected under the price
// sorts, which win here: 5 postings against 300 tickets).
func TestATitleWithTwoWordsOfAPrefixIsOneMatch(t *testing.T) {
	c := New()
	var s seq
	for i := range 300 {
		c.Put(Item{ID: s.next(), Title: "Opera night", Price: float64(10 + i%7), UserID: userID(1)})
	}
	for i := range 5 {
		c.Put(Item{ID: s.next(), Title: "Jazz & Jazzy jazzband", Price: float64(10 + i%2), UserID: userID(1)})
	}
	for sort := range numSorts {
		q := query(3, func(q *Query) { q.Sort = sort; q.Words = Words("jaz") })
		got := flatten(walk(t, c, q, nil))
		if want := brute(c, q); !slices.Equal(ids(got), ids(want)) || len(got) != 5 {
			t.Errorf("sort=%v: %v, want %v", sort, ids(got), ids(want))
		}
	}
}
