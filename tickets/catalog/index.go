package catalog

import (
	"encoding/binary"
	"math"

	"github.com/google/btree"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// The indexes are B-trees of small pointer-free keys (the garbage
// collector does not scan them), each split into partitions by a uint32:
// a status, a seller's number or a word's number. One tree per kind of
// key holds every partition, so a seller with one ticket costs a few keys,
// not a tree of its own.
//
// Trees by time keep the newest first. google/btree splits a full node
// into halves and the left half keeps the whole capacity: filled in
// ascending order (new tickets have the greatest ids) every node would
// stay half empty, while filled at the left edge each split-off node is
// full and exactly sized. At 100,000 tickets that saves about 150 bytes a
// ticket, a fifth of the whole.

// degree is the B-tree degree: nodes of up to 63 keys.
const degree = 32

// oid is an ObjectID as two big-endian integers, which compare as the
// bytes do: by creation second first, so greater is newer.
type oid struct {
	hi uint64
	lo uint32
}

var (
	minOID = oid{}
	maxOID = oid{math.MaxUint64, math.MaxUint32}
)

func toOID(id primitive.ObjectID) oid {
	return oid{binary.BigEndian.Uint64(id[:8]), binary.BigEndian.Uint32(id[8:])}
}

func (o oid) objectID() primitive.ObjectID {
	var id primitive.ObjectID
	binary.BigEndian.PutUint64(id[:8], o.hi)
	binary.BigEndian.PutUint32(id[8:], o.lo)
	return id
}

func (o oid) cmp(p oid) int {
	switch {
	case o.hi < p.hi:
		return -1
	case o.hi > p.hi:
		return 1
	case o.lo < p.lo:
		return -1
	case o.lo > p.lo:
		return 1
	}
	return 0
}

// pos is where an item sits in every sort: its price in cents and its id.
// A key that does not hold the price (a posting) gives noCents.
type pos struct {
	cents int64
	id    oid
}

const noCents = math.MinInt64

// order is one of the four sorts walked forward or backward: by price
// first or not, then each part ascending or descending. Ties on price are
// always broken by id, so every order is total.
type order struct {
	price     bool
	centsDesc bool
	idDesc    bool
}

// orderOf is the order of sort s, reversed for a walk backward (a page
// before a cursor).
func orderOf(s Sort, backward bool) order {
	var o order
	switch s {
	case Newest:
		o = order{idDesc: true}
	case Oldest:
		o = order{}
	case Price:
		o = order{price: true, idDesc: true}
	case PriceDesc:
		o = order{price: true, centsDesc: true, idDesc: true}
	}
	if backward {
		o.centsDesc, o.idDesc = !o.centsDesc, !o.idDesc
	}
	return o
}

// cmp compares a and b in o: negative when a comes first.
func (o order) cmp(a, b pos) int {
	if o.price && a.cents != b.cents {
		if (a.cents < b.cents) != o.centsDesc {
			return -1
		}
		return 1
	}
	c := a.id.cmp(b.id)
	if o.idDesc {
		return -c
	}
	return c
}

// idKey is a posting: a word's partition, newest first.
type idKey struct {
	id   oid
	part uint32
}

func lessID(a, b idKey) bool {
	if a.part != b.part {
		return a.part < b.part
	}
	return a.id.cmp(b.id) > 0
}

func (k idKey) at() pos                     { return pos{cents: noCents, id: k.id} }
func (k idKey) partition() uint32           { return k.part }
func (idKey) make(part uint32, p pos) idKey { return idKey{id: p.id, part: part} }

// priceKey is an item in a status or seller partition, with its price:
// ordered newest first in the trees by time (lessTime), where the price
// lets a walk skip items out of a price range without reading them, and
// by price, then newest first in the trees by price (lessPrice).
type priceKey struct {
	cents int64
	id    oid
	part  uint32
}

func lessTime(a, b priceKey) bool {
	if a.part != b.part {
		return a.part < b.part
	}
	return a.id.cmp(b.id) > 0
}

func lessPrice(a, b priceKey) bool {
	if a.part != b.part {
		return a.part < b.part
	}
	if a.cents != b.cents {
		return a.cents < b.cents
	}
	return a.id.cmp(b.id) > 0
}

func (k priceKey) at() pos           { return pos{cents: k.cents, id: k.id} }
func (k priceKey) partition() uint32 { return k.part }
func (priceKey) make(part uint32, p pos) priceKey {
	return priceKey{cents: p.cents, id: p.id, part: part}
}

type (
	postingTree = btree.BTreeG[idKey]
	timeTree    = btree.BTreeG[priceKey]
	priceTree   = btree.BTreeG[priceKey]
)

func newPostingTree() *postingTree { return btree.NewG(degree, lessID) }
func newTimeTree() *timeTree       { return btree.NewG(degree, lessTime) }
func newPriceTree() *priceTree     { return btree.NewG(degree, lessPrice) }

// A stream yields positions in some order, one at a time, so a query can
// stop after the few it needs and can interleave several streams. The
// tree streams read keys in chunks that grow from 8 to 128 and reseek
// after each chunk: a page of 20 reads one or two chunks, a long scan
// pays one O(log n) seek per 128 keys.
type stream interface {
	next() (pos, bool)
}

// bound is where a stream starts: at or after at (incl), or from the
// beginning when !set.
type bound struct {
	at   pos
	incl bool
	set  bool
}

const (
	firstChunk = 8
	maxChunk   = 128
)

type chunk struct {
	buf  []pos
	i    int
	size int
	done bool // the last refill reached the end
	// cost, when set, counts the work of the refills (see race).
	cost *int
}

// take pops the next buffered position, refilling through fill when the
// buffer is empty; fill appends up to n positions and reports whether it
// stopped before the end.
func (c *chunk) take(fill func(n int) bool) (pos, bool) {
	if c.i == len(c.buf) {
		if c.done {
			return pos{}, false
		}
		if c.size == 0 {
			c.size = firstChunk
		} else if c.size < maxChunk {
			c.size *= 2
		}
		c.buf, c.i = c.buf[:0], 0
		c.done = !fill(c.size)
		if c.cost != nil {
			*c.cost += costSeek + len(c.buf)*costKey
		}
		if len(c.buf) == 0 {
			c.done = true
			return pos{}, false
		}
	}
	p := c.buf[c.i]
	c.i++
	return p, true
}

// idKeyed are the keys of trees ordered by partition, then newest first.
type idKeyed[K any] interface {
	idKey | priceKey
	at() pos
	partition() uint32
	make(part uint32, p pos) K
}

// idStream walks one partition of a tree by time, newest or oldest first.
type idStream[K idKeyed[K]] struct {
	t      *btree.BTreeG[K]
	part   uint32
	oldest bool // oldest first: the tree read backwards
	from   bound
	chunk
}

func (s *idStream[K]) next() (pos, bool) { return s.take(s.fill) }

func (s *idStream[K]) fill(n int) (more bool) {
	var mk K
	at := s.from.at
	if !s.from.set {
		at.id = maxOID
		if s.oldest {
			at.id = minOID
		}
	}
	start := mk.make(s.part, at)
	skip := s.from.set && !s.from.incl
	visit := func(k K) bool {
		if k.partition() != s.part {
			return false
		}
		p := k.at()
		if skip && p.id == at.id {
			return true
		}
		s.buf = append(s.buf, p)
		if len(s.buf) == n {
			more = true
			return false
		}
		return true
	}
	if s.oldest {
		s.t.DescendLessOrEqual(start, visit)
	} else {
		s.t.AscendGreaterOrEqual(start, visit)
	}
	if more {
		s.from = bound{at: s.buf[len(s.buf)-1], set: true}
	}
	return more
}

// priceStream walks one partition of a price tree within [lo, hi] cents in
// any of the four (price, id) orders. The tree's own order (price up, id
// down) and its reverse are plain walks. The other two (price down with
// newest first, which sort=-price needs, and its reverse) walk the tree's
// groups of equal price in the other direction: a seek per price group,
// so a long run of tickets at one price costs no more than any other.
type priceStream struct {
	t      *priceTree
	part   uint32
	lo, hi int64
	o      order
	from   bound
	chunk
}

func (s *priceStream) next() (pos, bool) { return s.take(s.fill) }

// groupwise reports whether the order is not a plain walk of the tree.
func (s *priceStream) groupwise() bool { return s.o.centsDesc == s.o.idDesc }

func (s *priceStream) fill(n int) (more bool) {
	// A start outside [lo, hi] is the start of the range, or nothing.
	if s.from.set {
		c := s.from.at.cents
		if s.o.centsDesc && c > s.hi || !s.o.centsDesc && c < s.lo {
			s.from = bound{}
		} else if s.o.centsDesc && c < s.lo || !s.o.centsDesc && c > s.hi {
			return false
		}
	}
	if s.groupwise() {
		return s.fillGroups(n)
	}
	// Plain walk: ascending for price up, descending for price down.
	start := priceKey{part: s.part}
	if s.from.set {
		start.cents, start.id = s.from.at.cents, s.from.at.id
	} else if s.o.centsDesc {
		start.cents, start.id = s.hi, minOID // the last key priced hi
	} else {
		start.cents, start.id = s.lo, maxOID // the first key priced lo
	}
	skip := s.from.set && !s.from.incl
	visit := func(k priceKey) bool {
		if k.part != s.part || k.cents < s.lo || k.cents > s.hi {
			return false
		}
		if skip && k.cents == start.cents && k.id == start.id {
			return true
		}
		s.buf = append(s.buf, k.at())
		if len(s.buf) == n {
			more = true
			return false
		}
		return true
	}
	if s.o.centsDesc {
		s.t.DescendLessOrEqual(start, visit)
	} else {
		s.t.AscendGreaterOrEqual(start, visit)
	}
	if more {
		s.from = bound{at: s.buf[len(s.buf)-1], set: true}
	}
	return more
}

// fillGroups walks price groups in the order's price direction and each
// group's ids in the order's id direction, which is the tree's order
// inside a group when the ids go down (price down, newest first) and its
// reverse when they go up.
func (s *priceStream) fillGroups(n int) bool {
	for len(s.buf) < n {
		if !s.from.set {
			// Seek the first group of the range.
			g, ok := s.nextGroup(s.lo-1, s.hi+1)
			if !ok {
				return false
			}
			s.from = s.groupStart(g)
		}
		g := s.from.at.cents
		start := priceKey{cents: g, id: s.from.at.id, part: s.part}
		skip := !s.from.incl
		full := false
		visit := func(k priceKey) bool {
			if k.part != s.part || k.cents != g {
				return false
			}
			if skip && k.id == start.id {
				return true
			}
			s.buf = append(s.buf, k.at())
			if len(s.buf) == n {
				full = true
				return false
			}
			return true
		}
		if s.o.idDesc {
			s.t.AscendGreaterOrEqual(start, visit)
		} else {
			s.t.DescendLessOrEqual(start, visit)
		}
		if full {
			s.from = bound{at: s.buf[len(s.buf)-1], set: true}
			return true
		}
		// Group g is done: on to the next one.
		below, above := s.lo-1, g
		if !s.o.centsDesc {
			below, above = g, s.hi+1
		}
		next, ok := s.nextGroup(below, above)
		if !ok {
			return false
		}
		s.from = s.groupStart(next)
	}
	return true
}

// nextGroup returns the price of the group that comes next strictly
// between below and above: the highest when prices go down, the lowest
// when they go up.
func (s *priceStream) nextGroup(below, above int64) (g int64, ok bool) {
	if s.o.centsDesc {
		// The last key priced above-1 or less.
		s.t.DescendLessOrEqual(priceKey{cents: above - 1, id: minOID, part: s.part}, func(k priceKey) bool {
			g, ok = k.cents, k.part == s.part && k.cents > below
			return false
		})
	} else {
		// The first key priced below+1 or more.
		s.t.AscendGreaterOrEqual(priceKey{cents: below + 1, id: maxOID, part: s.part}, func(k priceKey) bool {
			g, ok = k.cents, k.part == s.part && k.cents < above
			return false
		})
	}
	return g, ok
}

// groupStart is the first position of group g in the order: its newest
// item when ids go down, its oldest when they go up.
func (s *priceStream) groupStart(g int64) bound {
	id := maxOID
	if !s.o.idDesc {
		id = minOID
	}
	return bound{at: pos{cents: g, id: id}, incl: true, set: true}
}

// merge yields the union of streams that each follow o, in o, once per
// id (a ticket with the words "jazz" and "jazzy" is in both postings of
// "jaz"). The heads are kept in a binary heap: log k per item.
type merge struct {
	o    order
	in   []stream // until the first call of next
	heap []head
	last oid
	any  bool
}

type head struct {
	p pos
	s stream
}

func newMerge(o order, in []stream) stream {
	if len(in) == 1 {
		return in[0]
	}
	return &merge{o: o, in: in}
}

func (m *merge) next() (pos, bool) {
	if m.in != nil {
		// Read the heads only now, so that a merge that is planned but
		// loses the race early costs little.
		m.heap = make([]head, 0, len(m.in))
		for _, s := range m.in {
			if p, ok := s.next(); ok {
				m.heap = append(m.heap, head{p, s})
			}
		}
		m.in = nil
		for i := len(m.heap)/2 - 1; i >= 0; i-- {
			m.down(i)
		}
	}
	for len(m.heap) > 0 {
		p := m.heap[0].p
		if np, ok := m.heap[0].s.next(); ok {
			m.heap[0].p = np
		} else {
			last := len(m.heap) - 1
			m.heap[0] = m.heap[last]
			m.heap = m.heap[:last]
		}
		m.down(0)
		if m.any && p.id == m.last {
			continue
		}
		m.last, m.any = p.id, true
		return p, true
	}
	return pos{}, false
}

func (m *merge) down(i int) {
	h := m.heap
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && m.o.cmp(h[c+1].p, h[c].p) < 0 {
			c++
		}
		if m.o.cmp(h[i].p, h[c].p) <= 0 {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// concat yields its streams one after the other, for collecting a set in
// no particular order.
type concat []stream

func (c *concat) next() (pos, bool) {
	for len(*c) > 0 {
		if p, ok := (*c)[0].next(); ok {
			return p, true
		}
		*c = (*c)[1:]
	}
	return pos{}, false
}
