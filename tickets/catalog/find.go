package catalog

import (
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/bson/primitive"
)

// How Find answers a page
//
// Every condition of a query can be checked on an item in a few
// nanoseconds (its status, seller, price and folded title are at hand), so
// a page is found by walking a *source*, a set of items that holds every
// match, and keeping the items that pass. The sources are the indexes:
//
//   - the statuses asked for (all three when none is): their trees by time
//     for newest and oldest, their trees by price, cut to [minPrice,
//     maxPrice], for the price sorts; a merge of up to 3 walks;
//   - the seller's tree by time or by price (cut to the price range);
//   - the postings of a search word: a word is a prefix, so its postings
//     are those of the vocabulary's words in the range [word, word+"\xff"),
//     merged (a heap of up to maxMerge walks).
//
// A source walked in the page's order (ordered) stops as soon as it has
// limit+1 matches: it costs O(log n + limit/d) for d the share of its
// items that match. The smaller of the status and seller sources (by the
// counts kept per status and seller) is walked, so d is as high as they
// make it. The keys by time hold the price, so a price range under newest
// or oldest skips what is out of range without reading the ticket.
// Postings are in id order, so the rarest search word (by the counts kept
// per word) is an ordered source for newest and oldest too: a search for a
// word in 1% of the titles reads about limit postings, at any size.
//
// A source not in the page's order (a search under a price sort, a price
// range under newest or oldest) can only be collected whole, filtered and
// cut to the first limit+1 (a heap): O(m log limit) for its m items, cheap
// when m is small (a rare word, a narrow range), no better than a full
// scan when it is not. Search under a price sort therefore costs the
// word's postings: about 0.5 µs each at 100,000 tickets, 0.5 ms for a
// word in 1% of the titles. How large m is cannot always be known (no
// index counts a price range), so Find races its plans: the ordered walks
// and the collections run in step, the one that has worked least (keys
// read, seeks, tickets read, weighted by their cost) going next, and the
// first to finish answers. A page costs at most the number of plans (2 or
// 3) times the cheapest one, and no estimate needs to be right.
//
// None of these costs grows with the catalogue, except through log n and
// the share of matches in the best source, which is the query's nature,
// not the catalogue's size: a page of "status=sold&q=rare" costs the same
// at 100,000 tickets as at 100 when the same share of tickets match.

// Planning limits.
const (
	// maxMerge bounds the vocabulary words of a search prefix that are
	// merged in id order (a seek each); a shorter prefix matching more
	// words is a common one, which the walk of a status finds quickly.
	maxMerge = 64
	// maxPrefixWords bounds the vocabulary words a prefix is expanded
	// to (to collect their postings); past it the prefix is only a filter.
	maxPrefixWords = 1024
)

// filter is a Query's conditions, ready to check against entries.
type filter struct {
	words    []string // query words, each with a leading space
	statuses []Status // never empty: all three when any is allowed
	allowed  [numStatuses]bool
	seller   string
	lo, hi   int64
}

func newFilter(q Query) *filter {
	f := &filter{seller: q.Seller, lo: -maxCents, hi: maxCents}
	// Words folds again, so that words not from Words still match.
	for _, w := range queryWords(Words(strings.Join(q.Words, " "))) {
		f.words = append(f.words, " "+w)
	}
	for _, s := range q.Statuses {
		if s < numStatuses && !f.allowed[s] {
			f.allowed[s] = true
			f.statuses = append(f.statuses, s)
		}
	}
	if len(q.Statuses) == 0 {
		f.statuses = []Status{Available, Reserved, Sold}
		f.allowed = [numStatuses]bool{true, true, true}
	}
	if q.MinCents != NoBound {
		f.lo = q.MinCents
	}
	if q.MaxCents != NoBound {
		f.hi = q.MaxCents
	}
	return f
}

func (f *filter) match(e *entry) bool {
	return e != nil && f.allowed[e.Status()] &&
		(f.seller == "" || e.UserID == f.seller) &&
		f.lo <= e.cents && e.cents <= f.hi &&
		hasWordPrefixes(e.words, f.words)
}

func (f *filter) priceBounded() bool { return f.lo > -maxCents || f.hi < maxCents }

// Find returns the page of q's matches that q.Cursor points to (the first
// page without a cursor). Its only error is a FieldErrors for a cursor
// that cannot be read, is of another sort, or names a ticket id that the
// catalogue does not hold (a 400).
//
// A page after a cursor holds the matches following the cursor's item in
// the sort; a page before one (Prev) the matches preceding it, shown in
// the sort's order. Both stay right while tickets are added and changed
// between pages: a walk of Next cursors sees every match that stays one
// and keeps its place in the sort exactly once. Under newest and oldest
// that is every match, whatever happens to prices; under a price sort, a
// ticket whose price changes mid-walk moves, and is seen where it stands
// when its new neighbourhood is read (once, twice or not at all), as with
// any keyset paging.
func (c *Catalog) Find(q Query) (Page, error) {
	limit := q.Limit
	if limit < 1 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	f := newFilter(q)

	c.mu.RLock()
	defer c.mu.RUnlock()

	var cur cursor
	have := q.Cursor != ""
	if have {
		var err error
		if cur, err = c.readCursor(q.Cursor, q.Sort); err != nil {
			return Page{}, err
		}
	}
	fwd, back := orderOf(q.Sort, false), orderOf(q.Sort, true)
	var page Page
	if !have || !cur.prev {
		from := bound{}
		if have {
			from = bound{at: cur.at, incl: cur.incl, set: true}
		}
		got := c.take(f, fwd, from, limit+1)
		if len(got) > limit {
			got = got[:limit]
			page.Next = cursor{sort: q.Sort, at: got[limit-1].pos()}.String()
		}
		page.Items = items(got)
		if have {
			// Something before the page? The first page has nothing.
			edge := bound{at: cur.at, incl: !cur.incl, set: true}
			if len(got) > 0 {
				edge = bound{at: got[0].pos(), set: true}
			}
			if len(c.take(f, back, edge, 1)) > 0 {
				page.Prev = cursor{sort: q.Sort, prev: true, incl: edge.incl, at: edge.at}.String()
			}
		}
		return page, nil
	}
	got := c.take(f, back, bound{at: cur.at, incl: cur.incl, set: true}, limit+1)
	if len(got) > limit {
		got = got[:limit]
		page.Prev = cursor{sort: q.Sort, prev: true, at: got[limit-1].pos()}.String()
	}
	slices.Reverse(got)
	page.Items = items(got)
	edge := bound{at: cur.at, incl: !cur.incl, set: true}
	if len(got) > 0 {
		edge = bound{at: got[len(got)-1].pos(), set: true}
	}
	if len(c.take(f, fwd, edge, 1)) > 0 {
		page.Next = cursor{sort: q.Sort, incl: edge.incl, at: edge.at}.String()
	}
	return page, nil
}

// readCursor decodes a cursor of sort s, or reads a ticket id as wave 2's
// cursor: after that ticket, at its current price under a price sort.
func (c *Catalog) readCursor(s string, sort Sort) (cursor, error) {
	if id, err := primitive.ObjectIDFromHex(s); err == nil {
		e := c.byID[id]
		if e == nil {
			return cursor{}, FieldErrors{{Field: "after", Message: "after names no ticket: start again without after"}}
		}
		return cursor{sort: sort, at: e.pos()}, nil
	}
	cur, err := decodeCursor(s)
	if err != nil {
		return cursor{}, FieldErrors{{Field: "after", Message: msgAfter}}
	}
	if cur.sort != sort {
		return cursor{}, FieldErrors{{Field: "after", Message: "after is a cursor of sort=" + cur.sort.String() + ", not sort=" + sort.String()}}
	}
	return cur, nil
}

func items(es []*entry) []Item {
	out := make([]Item, len(es))
	for i, e := range es {
		out[i] = e.Item
	}
	return out
}

// take returns the first n matches of f strictly after from (or at it,
// when from.incl) in order o, from the plan that finishes first.
func (c *Catalog) take(f *filter, o order, from bound, n int) []*entry {
	rs := c.plan(f, o, from, n)
	if rs == nil {
		return nil
	}
	return c.race(rs, f, o, from, n)
}

// The work units of a race: reading a key of a chunk, seeking a tree, and
// reading an entry (a map lookup and a few cache misses), roughly in the
// ratio of their times.
const (
	costKey   = 1
	costSeek  = 32
	costEntry = 16
)

// A racer is a plan: a source walked in the page's order (ordered: done
// with n matches or at its end), or a source collected whole (done at its
// end), keeping the first n matches.
type racer struct {
	s       stream
	ordered bool
	cost    int
	got     []*entry // ordered
	top     topN     // collected
}

// race runs the plans in step, always advancing the one that has worked
// least, and answers with the first to finish: the answer costs about
// len(rs) times the cheapest plan's cost, whichever that is.
func (c *Catalog) race(rs []*racer, f *filter, o order, from bound, n int) []*entry {
	for {
		r := rs[0]
		for _, q := range rs[1:] {
			if q.cost < r.cost {
				r = q
			}
		}
		p, ok := r.s.next()
		if !ok {
			if r.ordered {
				return r.got
			}
			return r.top.sorted()
		}
		if p.cents != noCents && (p.cents < f.lo || p.cents > f.hi) {
			continue // out of the price range, seen from the key alone
		}
		r.cost += costEntry
		e := c.byID[p.id.objectID()]
		if !f.match(e) {
			continue
		}
		if r.ordered {
			if r.got = append(r.got, e); len(r.got) == n {
				return r.got
			}
		} else if ep := e.pos(); from.before(o, ep) {
			r.top.add(e, ep)
		}
	}
}

// before reports whether p lies past the bound in o.
func (b bound) before(o order, p pos) bool {
	if !b.set {
		return true
	}
	c := o.cmp(b.at, p)
	return c < 0 || c == 0 && b.incl
}

// topN keeps the first n of the items it is given, in order o, each once:
// a heap whose root is the last kept, so most items cost one comparison.
type topN struct {
	o order
	n int
	h []hit
}

type hit struct {
	p pos
	e *entry
}

func (t *topN) add(e *entry, p pos) {
	if len(t.h) == t.n && t.o.cmp(p, t.h[0].p) >= 0 {
		return
	}
	for _, x := range t.h {
		if x.e == e {
			return // in the postings of two words of the prefix
		}
	}
	if len(t.h) < t.n {
		t.h = append(t.h, hit{p, e})
		for i := len(t.h) - 1; i > 0; {
			up := (i - 1) / 2
			if t.o.cmp(t.h[up].p, t.h[i].p) >= 0 {
				break
			}
			t.h[up], t.h[i] = t.h[i], t.h[up]
			i = up
		}
		return
	}
	t.h[0] = hit{p, e}
	for i := 0; ; {
		c := 2*i + 1
		if c >= len(t.h) {
			break
		}
		if c+1 < len(t.h) && t.o.cmp(t.h[c+1].p, t.h[c].p) > 0 {
			c++
		}
		if t.o.cmp(t.h[i].p, t.h[c].p) >= 0 {
			break
		}
		t.h[i], t.h[c] = t.h[c], t.h[i]
		i = c
	}
}

func (t *topN) sorted() []*entry {
	slices.SortFunc(t.h, func(a, b hit) int { return t.o.cmp(a.p, b.p) })
	out := make([]*entry, len(t.h))
	for i, h := range t.h {
		out[i] = h.e
	}
	return out
}

// plan returns the racers for a page (see the comment at the top): the
// smaller of the status and seller walks; for newest and oldest, the
// merged postings of the rarest search word; the collections of that
// word's postings (price sorts) and of the price range (newest, oldest).
// No racer means nothing can match.
func (c *Catalog) plan(f *filter, o order, from bound, n int) []*racer {
	var rs []*racer
	add := func(ordered bool) *racer {
		r := &racer{ordered: ordered, top: topN{o: o, n: n}}
		rs = append(rs, r)
		return r
	}

	size := 0
	for _, s := range f.statuses {
		size += c.statusCount[s]
	}
	var sel *seller
	if f.seller != "" {
		if sel = c.sellers[f.seller]; sel == nil {
			return nil
		}
	}
	scan := add(true)
	if sel != nil && sel.count < size {
		size = sel.count
		scan.s = c.sellerSource(sel, f, o, from, &scan.cost)
	} else {
		scan.s = c.statusSource(f, o, from, &scan.cost)
	}

	// The search word with the fewest postings, if fewer than size.
	var words []*word
	wordTotal := 0
	for _, w := range f.words {
		ws, total, ok := c.prefix(w[1:], size)
		if !ok {
			continue
		}
		if total == 0 {
			return nil // no title has the word
		}
		if words == nil || total < wordTotal {
			words, wordTotal = ws, total
		}
	}
	if words != nil {
		if !o.price && len(words) <= maxMerge {
			r := add(true)
			in := make([]stream, len(words))
			for i, w := range words {
				in[i] = &idStream[idKey]{t: c.postings, part: w.num, oldest: !o.idDesc, from: from, chunk: chunk{cost: &r.cost}}
			}
			r.s = newMerge(o, in)
		} else {
			r := add(false)
			in := make(concat, len(words))
			for i, w := range words {
				in[i] = &idStream[idKey]{t: c.postings, part: w.num, chunk: chunk{cost: &r.cost}}
			}
			r.s = &in
		}
	}

	if !o.price && f.priceBounded() {
		r := add(false)
		var in concat
		if sel != nil && sel.count <= size {
			in = concat{&priceStream{t: c.sellerPrices, part: sel.num, lo: f.lo, hi: f.hi, o: orderOf(Price, false), chunk: chunk{cost: &r.cost}}}
		} else {
			for _, s := range f.statuses {
				in = append(in, &priceStream{t: c.statusPrices, part: uint32(s), lo: f.lo, hi: f.hi, o: orderOf(Price, false), chunk: chunk{cost: &r.cost}})
			}
		}
		r.s = &in
	}
	return rs
}

func (c *Catalog) statusSource(f *filter, o order, from bound, cost *int) stream {
	in := make([]stream, len(f.statuses))
	for i, s := range f.statuses {
		if o.price {
			in[i] = &priceStream{t: c.statusPrices, part: uint32(s), lo: f.lo, hi: f.hi, o: o, from: from, chunk: chunk{cost: cost}}
		} else {
			in[i] = &idStream[priceKey]{t: c.statusTimes, part: uint32(s), oldest: !o.idDesc, from: from, chunk: chunk{cost: cost}}
		}
	}
	return newMerge(o, in)
}

func (c *Catalog) sellerSource(s *seller, f *filter, o order, from bound, cost *int) stream {
	if o.price {
		return &priceStream{t: c.sellerPrices, part: s.num, lo: f.lo, hi: f.hi, o: o, from: from, chunk: chunk{cost: cost}}
	}
	return &idStream[priceKey]{t: c.sellerTimes, part: s.num, oldest: !o.idDesc, from: from, chunk: chunk{cost: cost}}
}

// prefix returns the vocabulary words that start with p and their
// postings in all, or !ok when they are too many to be worth it: more
// than maxPrefixWords words, or at least as many postings as another
// source (of size enough) has items.
func (c *Catalog) prefix(p string, enough int) (ws []*word, total int, ok bool) {
	ok = true
	c.vocab.AscendGreaterOrEqual(&word{text: p}, func(w *word) bool {
		if !strings.HasPrefix(w.text, p) {
			return false
		}
		ws = append(ws, w)
		total += w.count
		if len(ws) > maxPrefixWords || total >= enough {
			ok = false
			return false
		}
		return true
	})
	return ws, total, ok
}
