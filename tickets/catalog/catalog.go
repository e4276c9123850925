package catalog

import (
	"iter"
	"strings"
	"sync"

	"github.com/google/btree"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/validate"
)

// Status is where a ticket is in its sale.
type Status uint8

// The statuses, as the status parameter names them.
const (
	Available Status = iota
	Reserved         // an order holds it
	Sold             // its order is paid
	numStatuses
)

var statusNames = [numStatuses]string{"available", "reserved", "sold"}

func (s Status) String() string {
	if s < numStatuses {
		return statusNames[s]
	}
	return "unknown"
}

// Item is a ticket as the catalogue shows it.
type Item struct {
	ID      primitive.ObjectID // its time part orders newest and oldest
	Title   string
	Price   float64 // dollars, whole cents
	UserID  string  // the seller
	OrderID string  // set while reserved, and kept when sold
	Sold    bool
	Version int64
}

// Status is Sold once paid, Reserved while an order holds the ticket, and
// Available otherwise.
func (it Item) Status() Status {
	switch {
	case it.Sold:
		return Sold
	case it.OrderID != "":
		return Reserved
	}
	return Available
}

// entry is a stored item with what the indexes and filters need. Entries
// are never changed once stored (Put stores a new one), so the snapshots
// All hands out share them safely.
type entry struct {
	Item
	cents int64
	// words is the folded title with a space before each word, so " fest"
	// is in it exactly when a word of the title starts with "fest".
	words string
}

func (e *entry) pos() pos { return pos{cents: e.cents, id: toOID(e.ID)} }

// seller numbers a seller's partition of the seller indexes.
type seller struct {
	id    string // the one copy of the user id that the seller's items share
	num   uint32
	count int
}

// word is a title word of the vocabulary and its partition of postings.
type word struct {
	text  string
	num   uint32
	count int // titles that hold it
}

// Catalog is the read model of the tickets, safe for concurrent use. Put
// keeps it current; Find answers a page from its indexes; All streams
// everything from a snapshot.
type Catalog struct {
	mu   sync.RWMutex
	byID map[primitive.ObjectID]*entry
	// all holds every entry newest first, for the snapshots of All (a
	// B-tree clone is O(1) and copies nodes only as later writes touch
	// them).
	all *btree.BTreeG[*entry]

	statusTimes  *timeTree  // partition: status
	statusPrices *priceTree // partition: status
	statusCount  [numStatuses]int

	sellers      map[string]*seller
	sellerTimes  *timeTree  // partition: seller number
	sellerPrices *priceTree // partition: seller number
	nextSeller   uint32

	vocab    *btree.BTreeG[*word] // by text: a prefix is a range of it
	postings *postingTree         // partition: word number
	nextWord uint32
}

// New returns an empty catalogue.
func New() *Catalog {
	return &Catalog{
		byID:         make(map[primitive.ObjectID]*entry),
		all:          btree.NewG(degree, func(a, b *entry) bool { return toOID(a.ID).cmp(toOID(b.ID)) > 0 }),
		statusTimes:  newTimeTree(),
		statusPrices: newPriceTree(),
		sellers:      make(map[string]*seller),
		sellerTimes:  newTimeTree(),
		sellerPrices: newPriceTree(),
		vocab:        btree.NewG(degree, func(a, b *word) bool { return a.text < b.text }),
		postings:     newPostingTree(),
	}
}

// Put stores it, when it is new or newer (a higher Version) than the
// stored item, and reports whether it did: writes and events may arrive
// out of order, and an older version must not undo a newer one.
func (c *Catalog) Put(it Item) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.byID[it.ID]
	if old != nil && it.Version <= old.Version {
		return false
	}
	e := &entry{Item: it, cents: centsOf(it.Price)}
	if old != nil && old.Title == it.Title {
		e.words = old.words
	} else {
		e.words = " " + fold(it.Title)
	}
	s := c.sellers[it.UserID]
	if s == nil {
		s = &seller{id: strings.Clone(it.UserID), num: c.nextSeller}
		c.nextSeller++
		c.sellers[s.id] = s
	}
	e.UserID = s.id
	if old != nil {
		c.unindex(old, e)
	}
	c.index(e, old, s)
	c.byID[it.ID] = e
	c.all.ReplaceOrInsert(e)
	return true
}

// unindex removes the keys of old that e does not share.
func (c *Catalog) unindex(old, e *entry) {
	id := toOID(old.ID)
	if old.Status() != e.Status() || old.cents != e.cents {
		k := priceKey{cents: old.cents, id: id, part: uint32(old.Status())}
		c.statusTimes.Delete(k)
		c.statusPrices.Delete(k)
		c.statusCount[old.Status()]--
	}
	if old.UserID != e.UserID || old.cents != e.cents {
		s := c.sellers[old.UserID]
		k := priceKey{cents: old.cents, id: id, part: s.num}
		c.sellerTimes.Delete(k)
		c.sellerPrices.Delete(k)
		if old.UserID != e.UserID {
			if s.count--; s.count == 0 {
				delete(c.sellers, s.id)
			}
		}
	}
	if old.words != e.words {
		for _, t := range uniqueWords(old.words) {
			w, _ := c.vocab.Get(&word{text: t})
			c.postings.Delete(idKey{id: id, part: w.num})
			if w.count--; w.count == 0 {
				c.vocab.Delete(w)
			}
		}
	}
}

// index adds the keys of e that old (nil for a new item) did not have.
func (c *Catalog) index(e, old *entry, s *seller) {
	id := toOID(e.ID)
	if old == nil || old.Status() != e.Status() || old.cents != e.cents {
		k := priceKey{cents: e.cents, id: id, part: uint32(e.Status())}
		c.statusTimes.ReplaceOrInsert(k)
		c.statusPrices.ReplaceOrInsert(k)
		c.statusCount[e.Status()]++
	}
	if old == nil || old.UserID != e.UserID || old.cents != e.cents {
		k := priceKey{cents: e.cents, id: id, part: s.num}
		c.sellerTimes.ReplaceOrInsert(k)
		c.sellerPrices.ReplaceOrInsert(k)
		if old == nil || old.UserID != e.UserID {
			s.count++
		}
	}
	if old == nil || old.words != e.words {
		for _, t := range uniqueWords(e.words) {
			w, ok := c.vocab.Get(&word{text: t})
			if !ok {
				w = &word{text: t, num: c.nextWord}
				c.nextWord++
				c.vocab.ReplaceOrInsert(w)
			}
			c.postings.ReplaceOrInsert(idKey{id: id, part: w.num})
			w.count++
		}
	}
}

// uniqueWords splits an entry's words, each once.
func uniqueWords(words string) []string {
	ws := strings.Fields(words)
	out := ws[:0]
outer:
	for i, w := range ws {
		for _, o := range ws[:i] {
			if o == w {
				continue outer
			}
		}
		out = append(out, w)
	}
	return out
}

// centsOf is a price in whole cents, rounded as payments round it; prices
// out of any sane range are clamped so that cents±1 cannot overflow.
func centsOf(price float64) int64 {
	c := validate.Price(price).Cents()
	return min(max(c, -maxCents), maxCents)
}

// maxCents bounds every price the indexes hold (and "no bound" in a query).
const maxCents = 1 << 60

// Get returns the item with id.
func (c *Catalog) Get(id primitive.ObjectID) (Item, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.byID[id]
	if !ok {
		return Item{}, false
	}
	return e.Item, true
}

// Len is the number of items.
func (c *Catalog) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.byID)
}

// All yields every item oldest first, as they were when All was called.
// It reads a clone of the index, so a slow reader (the unpaged list
// streamed to a slow client) never holds the lock that Put needs.
func (c *Catalog) All() iter.Seq[Item] {
	c.mu.Lock() // Clone changes the tree's copy-on-write state
	snap := c.all.Clone()
	c.mu.Unlock()
	return func(yield func(Item) bool) {
		snap.Descend(func(e *entry) bool { return yield(e.Item) })
	}
}
