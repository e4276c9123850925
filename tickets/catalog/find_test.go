package catalog

import (
	"math/rand/v2"
	"slices"
	"testing"
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
