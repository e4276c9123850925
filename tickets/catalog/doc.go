// Package catalog is the tickets service's read model of the catalogue:
// every ticket in memory, with ordered indexes that let GET /api/tickets
// answer any search, filter, sort and page of docs/CONTRACT.md §2b at a
// cost that does not grow with the catalogue.
//
// Why in memory: the database (FerretDB v1) pushes down only top-level
// equality; ranges, sorts, $in and regular expressions are evaluated in Go
// over every document, so a page of a 100,000-ticket catalogue cannot be a
// plain find. Each tickets process builds a Catalog from the database at
// start and keeps it current with Put, from its own writes and from ticket
// events (Put ignores versions older than what it holds, so the order in
// which they arrive does not matter).
//
// A handler of GET /api/tickets uses it so:
//
//	v := r.URL.Query()
//	if catalog.Unpaged(v) {
//		// the original's answer: stream c.All(), every ticket oldest first
//	}
//	q, err := catalog.ParseQuery(v, signedInUserID) // FieldErrors: 400; ErrSignInRequired: 401
//	page, err := c.Find(q)                          // FieldErrors (the cursor): 400
//	// Link: rel="next" with after=page.Next, rel="prev" with after=page.Prev,
//	// each keeping the request's other parameters.
//
// How Find uses the indexes, and what a page costs, is told in find.go;
// the indexes themselves in index.go. In short: per status and per seller
// a tree by time and one by price, per title word a list of postings by
// time, all B-trees of pointer-free keys (github.com/google/btree). Pages
// are keyset-paged: a cursor holds the sort key of the item at the page's
// edge, so page 50 costs what page 1 does.
//
// Measured (BenchmarkFind, BenchmarkMemoryPerTicket; 2 cores shared
// with other work, so the spread is wide), alike at 100, 10,000 and
// 100,000 tickets: a first page of status=available 4–12 µs, a search for
// a word in 1% of titles 4–13 µs, a seller's page 3–7 µs, page 50 of
// newest 7–17 µs, a price range by price 2–8 µs. A price range under
// newest (4% of tickets in range) walks about 500 keys a page: 35–90 µs
// from 10,000 tickets up. Search under a price sort collects the word's
// postings: 0.4–0.6 ms for a word in 1% of 100,000 titles. Put takes about
// 4 µs. Memory: 626 bytes a ticket at 100,000 tickets (titles of 30 to 60
// characters, about 6 words each), titles and ids included, about 63 MB;
// half of it is index keys.
package catalog
