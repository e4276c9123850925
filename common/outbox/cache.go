package outbox

import (
	"sync"

	"go.mongodb.org/mongo-driver/bson"
)

// cachedDocs bounds a kind's cache: enough for the aggregates a process
// changes within a few seconds under load (a ticket is reserved, then
// sold, within a purchase).
const cachedDocs = 4096

// docCache is the documents a process last wrote or read to change, by
// aggregate ("<kind>/<hex id>"). A nil cache holds nothing.
type docCache struct {
	mu  sync.Mutex
	m   map[string]bson.Raw
	max int
}

func newDocCache(max int) *docCache { return &docCache{m: map[string]bson.Raw{}, max: max} }

func (c *docCache) get(agg string) (bson.Raw, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	raw, ok := c.m[agg]
	return raw, ok
}

func (c *docCache) put(agg string, raw bson.Raw) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m) // a forgotten document only costs a read
	}
	c.m[agg] = append(bson.Raw(nil), raw...)
}

func (c *docCache) drop(agg string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, agg)
}
