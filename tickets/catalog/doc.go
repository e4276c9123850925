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
// The pieces: ParseQuery reads the query parameters into a Query (or
// FieldErrors naming each bad one), Find answers a Page with cursors to
// the pages next to it, and All streams every ticket oldest first from a
// snapshot, for the unpaged list (Unpaged tells which answer a request
// wants). How Find uses the indexes, and what a page costs, is described
// in find.go.
package catalog
