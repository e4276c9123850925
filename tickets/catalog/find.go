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
//   - the statuses asked for (all three when none is): their id trees for
//     newest and oldest, their price trees, cut to [minPrice, maxPrice],
//     for the price sorts; a k-way merge of up to 3 walks;
//   - the seller's id tree or price tree (cut to the price range);
//   - the postings of a search word: a word is a prefix, so its postings
//     are those of the vocabulary's words in the range [word, word+"\xff").
//
// A source walked in the page's order (ordered) stops as soon as it has
// limit+1 matches: it costs O(log n + limit/d), where d is the share of
// its items that match. Find walks the smallest ordered source, by the
// counts it keeps (tickets per status, per seller, per word), so d is as
// high as the indexes can make it. Postings are in id order, so a search
// is an ordered source for newest and oldest: a search for a word in 1%
// of the titles reads about limit postings, at any catalogue size.
//
// A source not in the page's order (a search under a price sort, a price
// range under newest or oldest) can only be collected whole, filtered,
// sorted and cut: O(m log m) for its m items, which is cheap when m is
// small (a rare word, a narrow price range) and no better than a full scan
// when it is not. How small is not known beforehand (no index counts a
// price range), so Find runs the collections in step with the ordered
// walk, one item each in turn, and takes the answer of whichever
// finishes first: a page costs at most a few times the cheaper plan, and
// needs no estimate to be right.
//
// The costs do not grow with the catalogue, except through log n and the
// matches' share of the source, which is the query's nature, not the
// catalogue's size: a page of "status=sold&q=rare" costs the same at
// 100,000 tickets as at 100 when the same share of tickets match.

// Planning limits.
const (
	// maxMerge bounds the vocabulary words of a search prefix that are
	// merged in id order; a shorter prefix matching more words is a
	// common one, which the ordered walk of a status finds quickly.
	maxMerge = 16
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
	for _, w := range queryWords(q.Words) {
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
	return e != nil && f.allowed[e.status] &&
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
// when from.incl) in order o: the ordered walk and the collections of the
// plan run in step, and the first to finish answers.
func (c *Catalog) take(f *filter, o order, from bound, n int) []*entry {
	ordered, collect := c.plan(f, o, from)
	if ordered == nil {
		return nil
	}
	var got []*entry
	found := make([][]*entry, len(collect))
	for {
		p, ok := ordered.next()
		if !ok {
			return got
		}
		if e := c.byID[p.id.objectID()]; f.match(e) {
			if got = append(got, e); len(got) == n {
				return got
			}
		}
		for i, s := range collect {
			p, ok := s.next()
			if !ok {
				return firstN(found[i], o, n)
			}
			if e := c.byID[p.id.objectID()]; f.match(e) && from.before(o, e.pos()) {
				found[i] = append(found[i], e)
			}
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

// firstN sorts collected matches in o and returns the first n, each once.
func firstN(es []*entry, o order, n int) []*entry {
	slices.SortFunc(es, func(a, b *entry) int { return o.cmp(a.pos(), b.pos()) })
	es = slices.CompactFunc(es, func(a, b *entry) bool { return a == b })
	return es[:min(n, len(es))]
}

// plan picks the ordered source with the fewest items and the unordered
// sources worth collecting beside it (see the comment at the top). A nil
// ordered source means nothing can match.
func (c *Catalog) plan(f *filter, o order, from bound) (ordered stream, collect []stream) {
	best := 0
	for _, s := range f.statuses {
		best += c.statusCount[s]
	}
	ordered = c.statusSource(f, o, from)
	var sel *seller
	if f.seller != "" {
		if sel = c.sellers[f.seller]; sel == nil {
			return nil, nil
		}
		if sel.count < best {
			best = sel.count
			ordered = c.sellerSource(sel, f, o, from)
		}
	}
	// The search word with the fewest postings, if fewer than best.
	var words []*word
	wordTotal := 0
	for _, w := range f.words {
		ws, total, ok := c.prefix(w[1:], best)
		if !ok {
			continue
		}
		if total == 0 {
			return nil, nil // no title has the word
		}
		if words == nil || total < wordTotal {
			words, wordTotal = ws, total
		}
	}
	if words != nil && wordTotal < best {
		if !o.price && len(words) <= maxMerge {
			in := make([]stream, len(words))
			for i, w := range words {
				in[i] = &idStream{t: c.postings, part: w.num, desc: o.idDesc, from: from}
			}
			ordered, best = newMerge(o, in), wordTotal
		} else {
			in := make(concat, len(words))
			for i, w := range words {
				in[i] = &idStream{t: c.postings, part: w.num}
			}
			collect = append(collect, &in)
		}
	}
	if !o.price && f.priceBounded() {
		// Cut by price, in price order: collected.
		var in concat
		if sel != nil && sel.count < best {
			in = concat{&priceStream{t: c.sellerPrices, part: sel.num, lo: f.lo, hi: f.hi, o: orderOf(Price, false)}}
		} else {
			for _, s := range f.statuses {
				in = append(in, &priceStream{t: c.statusPrices, part: uint32(s), lo: f.lo, hi: f.hi, o: orderOf(Price, false)})
			}
		}
		collect = append(collect, &in)
	}
	return ordered, collect
}

func (c *Catalog) statusSource(f *filter, o order, from bound) stream {
	in := make([]stream, len(f.statuses))
	for i, s := range f.statuses {
		if o.price {
			in[i] = &priceStream{t: c.statusPrices, part: uint32(s), lo: f.lo, hi: f.hi, o: o, from: from}
		} else {
			in[i] = &idStream{t: c.statusIDs, part: uint32(s), desc: o.idDesc, from: from}
		}
	}
	return newMerge(o, in)
}

func (c *Catalog) sellerSource(s *seller, f *filter, o order, from bound) stream {
	if o.price {
		return &priceStream{t: c.sellerPrices, part: s.num, lo: f.lo, hi: f.hi, o: o, from: from}
	}
	return &idStream{t: c.sellerIDs, part: s.num, desc: o.idDesc, from: from}
}

// prefix returns the vocabulary words that start with p and their
// postings in all, or !ok when they are too many to be worth it: more
// than maxPrefixWords words, or at least enough postings that another
// source (of size enough) is smaller.
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
