package catalog

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestPutIgnoresStaleVersions(t *testing.T) {
	c := New()
	id := idAt(10, 1)
	if !c.Put(Item{ID: id, Title: "Opera", Price: 10, UserID: userID(1), Version: 2}) {
		t.Fatal("a new item was not stored")
	}
	for _, v := range []int64{0, 1, 2} {
		if c.Put(Item{ID: id, Title: "Stale", Price: 99, UserID: userID(1), Version: v}) {
			t.Errorf("version %d replaced version 2", v)
		}
	}
	if !c.Put(Item{ID: id, Title: "Opera gala", Price: 12, UserID: userID(1), Version: 3}) {
		t.Error("version 3 did not replace version 2")
	}
	it, ok := c.Get(id)
	if !ok || it.Title != "Opera gala" || it.Price != 12 || it.Version != 3 {
		t.Errorf("Get = %+v, %v", it, ok)
	}
	if p := mustFind(t, c, query(10, func(q *Query) { q.Words = Words("stale") })); len(p.Items) != 0 {
		t.Errorf("a refused version's title is searchable: %v", ids(p.Items))
	}
	if c.Len() != 1 {
		t.Errorf("Len = %d", c.Len())
	}
	if _, ok := c.Get(idAt(10, 2)); ok {
		t.Error("Get found an unknown id")
	}
}

func TestStatusChangesMoveItemsBetweenIndexes(t *testing.T) {
	c := New()
	id := idAt(10, 1)
	order := idAt(11, 1).Hex()
	in := func(s Status) bool {
		p := mustFind(t, c, query(10, func(q *Query) { q.Statuses = []Status{s} }))
		return len(p.Items) == 1 && p.Items[0].ID == id
	}
	for i, step := range []struct {
		orderID string
		sold    bool
		want    Status
	}{
		{"", false, Available},
		{order, false, Reserved},
		{"", false, Available}, // the order was cancelled
		{order, false, Reserved},
		{order, true, Sold},
	} {
		c.Put(Item{ID: id, Title: "Ballet", Price: 30, UserID: userID(1), OrderID: step.orderID, Sold: step.sold, Version: int64(i)})
		for s := range numStatuses {
			if in(s) != (s == step.want) {
				t.Errorf("step %d (%v): found under status=%v: %v", i, step.want, s, in(s))
			}
		}
		if got := c.statusCount; got[step.want] != 1 || got[0]+got[1]+got[2] != 1 {
			t.Errorf("step %d: counts %v", i, got)
		}
	}
}

func TestChangesMoveItemsInPriceSellerAndSearchIndexes(t *testing.T) {
	c := New()
	var s seq
	a, b := s.next(), s.next()
	c.Put(Item{ID: a, Title: "Rock night", Price: 10, UserID: userID(1)})
	c.Put(Item{ID: b, Title: "Jazz night", Price: 20, UserID: userID(1)})
	c.Put(Item{ID: a, Title: "Opera night", Price: 30, UserID: userID(2), Version: 1})

	byPrice := mustFind(t, c, query(10, func(q *Query) { q.Sort = Price }))
	if got := ids(byPrice.Items); len(got) != 2 || byPrice.Items[0].ID != b {
		t.Errorf("by price after a repricing: %v", got)
	}
	for _, tc := range []struct {
		q    Query
		want int
	}{
		{query(10, func(q *Query) { q.Words = Words("rock") }), 0},
		{query(10, func(q *Query) { q.Words = Words("opera") }), 1},
		{query(10, func(q *Query) { q.Words = Words("night") }), 2},
		{query(10, func(q *Query) { q.Seller = userID(1) }), 1},
		{query(10, func(q *Query) { q.Seller = userID(2) }), 1},
		{query(10, func(q *Query) { q.Seller = userID(2); q.Sort = PriceDesc }), 1},
		{query(10, func(q *Query) { q.MinCents, q.MaxCents = 1000, 1000 }), 0},
		{query(10, func(q *Query) { q.MinCents, q.MaxCents = 3000, 3000 }), 1},
	} {
		if got := mustFind(t, c, tc.q); len(got.Items) != tc.want {
			t.Errorf("%+v: %v, want %d items", tc.q, ids(got.Items), tc.want)
		}
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if _, ok := c.vocab.Get(&word{text: "rock"}); ok {
		t.Error("a word no title holds stays in the vocabulary")
	}
	if n := c.postings.Len(); n != 4 {
		t.Errorf("%d postings, want 4 (opera, night, jazz, night)", n)
	}
	if n := c.statusTimes.Len() + c.statusPrices.Len() + c.sellerTimes.Len() + c.sellerPrices.Len(); n != 8 {
		t.Errorf("%d index keys, want 8", n)
	}
}

func TestAllIsOldestFirstFromASnapshotAndDoesNotBlockPut(t *testing.T) {
	c := New()
	r := rand.New(rand.NewPCG(3, 4))
	var s seq
	var want []string
	var its []Item
	for range 500 {
		its = append(its, randomItem(r, s.next(), 3))
	}
	for _, i := range r.Perm(len(its)) { // in any order
		c.Put(its[i])
	}
	for _, it := range its {
		want = append(want, it.ID.Hex())
	}

	var got []string
	for it := range c.All() {
		got = append(got, it.ID.Hex())
		if len(got) == 10 {
			// The reader is slow: writers must not wait for it.
			done := make(chan struct{})
			go func() {
				defer close(done)
				c.Put(Item{ID: s.next(), Title: "Late", Price: 1, UserID: userID(1)})
				c.Put(Item{ID: its[20].ID, Title: "Changed", Price: 2, UserID: userID(1), Version: 9})
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Put waited for a reader of All")
			}
		}
		if len(got) == 21 && it.Title == "Changed" {
			t.Error("the snapshot saw a later change")
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("All gave %d items, not the %d stored oldest first", len(got), len(want))
	}
	n := 0
	for range c.All() {
		n++
	}
	if n != 501 {
		t.Errorf("a later All has %d items, want 501", n)
	}
}

func TestConcurrentPutFindAndAllAreSafe(t *testing.T) {
	c := New()
	var s seq
	var mu sync.Mutex
	next := func() Item {
		mu.Lock()
		defer mu.Unlock()
		return Item{ID: s.next()}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() { // writers: new tickets, then changes to them
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			var mine []Item
			for i := range 300 {
				if i%3 == 0 || len(mine) == 0 {
					it := randomItem(r, next().ID, 4)
					c.Put(it)
					mine = append(mine, it)
					continue
				}
				k := r.IntN(len(mine))
				it := randomItem(r, mine[k].ID, 4)
				it.Version = mine[k].Version + 1
				c.Put(it)
				mine[k] = it
			}
		}()
		go func() { // readers: pages, walks, snapshots
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 2))
			for i := range 200 {
				q := randomQuery(r, 4)
				p, err := c.Find(q)
				if err != nil {
					t.Error(err)
					return
				}
				if p.Next != "" {
					q.Cursor = p.Next
					if _, err := c.Find(q); err != nil {
						t.Error(err)
						return
					}
				}
				if i%50 == 0 {
					for range c.All() {
					}
				}
			}
		}()
	}
	wg.Wait()
	if c.Len() == 0 {
		t.Fatal("nothing stored")
	}
	// Whatever the interleaving, the indexes agree with the items.
	for i := range 50 {
		q := randomQuery(rand.New(rand.NewPCG(uint64(i), 3)), 4)
		if got, want := flatten(walk(t, c, q, nil)), brute(c, q); !slices.Equal(ids(got), ids(want)) {
			t.Fatalf("after the race, %+v: %d items, want %d", q, len(got), len(want))
		}
	}
}
