package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// The catalogue scenarios (docs/CONTRACT.md §2b): each query of the
// landing page, My Listings and paging, at several catalogue sizes seeded
// through the driver (listing 100,000 tickets through the API would take
// the whole bench), each read at one client (its latency) and at full
// concurrency (its rate, compared with the same query at the smallest
// size). The tickets service is restarted after each seeding, so its
// read model is built from the database as at any start.

// catalogueSearchWord is in 1 % of the seeded titles.
const catalogueSearchWord = "zephyr"

// CatalogueRow is the tickets process's footprint at one size.
type CatalogueRow struct {
	Tickets int
	// RSSKB is the tickets process's RSS once its read model is built.
	RSSKB int64
	// Unpaged is the unpaged list at this size, if it was read, and
	// UnpagedGrowthKB the tickets process's RSS growth over that run.
	Unpaged         *Result
	UnpagedGrowthKB int64
}

// catalogueQuery is one query of the scenario; path is the request, given
// the suite's seller cursor (page 50) where it needs one.
type catalogueQuery struct {
	name   string
	path   string
	cookie bool // as the seller (seller=me)
}

func catalogueName(query string, size int) string {
	return fmt.Sprintf("catalogue: %s @%d", query, size)
}

// Catalogue runs the catalogue scenarios at each size (ascending), and the
// unpaged list once at unpagedAt tickets.
func (s *Suite) Catalogue(ctx context.Context, r *Report, sizes []int, oneClient, full time.Duration, unpagedAt int) error {
	seller := s.users[0]
	var me struct {
		CurrentUser *struct{ ID string } `json:"currentUser"`
	}
	if err := s.c.call(ctx, http.MethodGet, "/api/users/currentuser", seller, nil, http.StatusOK, &me); err != nil || me.CurrentUser == nil {
		return fmt.Errorf("reading the seller's id: %v", err)
	}
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(s.st.MongoURIOf("tickets")))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	coll := client.Database("tickets").Collection("tickets")

	for _, size := range sizes {
		s.opt.Log("catalogue: seeding up to %d tickets through the driver", size)
		if err := seedCatalogue(ctx, coll, size, me.CurrentUser.ID); err != nil {
			return err
		}
		if _, err := s.st.Restart(ctx, "tickets"); err != nil {
			return fmt.Errorf("restarting tickets: %w", err)
		}
		row := CatalogueRow{Tickets: size, RSSKB: rssKB(s.st.PID("tickets"))}
		page50, err := s.pageOfNewest(ctx, 50)
		if err != nil {
			return err
		}
		queries := []catalogueQuery{
			{name: "newest first page", path: "/api/tickets?status=available&sort=newest"},
			{name: "search (a word in 1 % of titles)", path: "/api/tickets?q=" + catalogueSearchWord},
			{name: "price range", path: "/api/tickets?minPrice=100&maxPrice=140"},
			{name: "seller=me", path: "/api/tickets?seller=me", cookie: true},
			{name: "page 50 of newest", path: page50},
		}
		for _, q := range queries {
			cookie := ""
			if q.cookie {
				cookie = seller
			}
			op := timed(func(ctx context.Context, _ int) error {
				return s.c.call(ctx, http.MethodGet, q.path, cookie, nil, http.StatusOK, nil)
			})
			s.scenarioFor(ctx, r, catalogueName(q.name+", 1 client", size), 1, oneClient, op)
			s.scenarioFor(ctx, r, catalogueName(q.name, size), s.opt.Concurrency, full, op)
		}
		if size == unpagedAt {
			before := rssKB(s.st.PID("tickets"))
			res := RunTimed(ctx, catalogueName("unpaged list (every ticket)", size), s.opt.Concurrency, full, timed(func(ctx context.Context, _ int) error {
				return s.c.call(ctx, http.MethodGet, "/api/tickets", "", nil, http.StatusOK, nil)
			}))
			s.opt.Log("%s", res)
			row.Unpaged, row.UnpagedGrowthKB = &res, rssKB(s.st.PID("tickets"))-before
		}
		r.Catalogue = append(r.Catalogue, row)
	}
	return nil
}

// seedCatalogue inserts tickets until the collection holds n: titles with
// catalogueSearchWord in 1 % of them, prices spread over $10–$999, and 1 %
// sold by seller. Only the documents are written (no events): what is
// measured reads the catalogue.
func seedCatalogue(ctx context.Context, coll *mongo.Collection, n int, seller string) error {
	have, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("counting tickets: %w", err)
	}
	words := []string{"jazz", "rock", "opera", "festival", "night", "matinee", "tour", "live", "acoustic", "gala"}
	const batch = 1000
	for i := int(have); i < n; {
		docs := make([]any, 0, batch)
		for ; i < n && len(docs) < batch; i++ {
			title := fmt.Sprintf("Seeded %s %s show %d", words[i%len(words)], words[(i/len(words))%len(words)], i)
			if i%100 == 0 {
				title += " " + catalogueSearchWord
			}
			userID := primitive.NewObjectID().Hex()
			if i%100 == 1 {
				userID = seller
			}
			docs = append(docs, bson.D{
				{Key: "_id", Value: primitive.NewObjectID()}, {Key: "title", Value: title},
				{Key: "price", Value: float64(10 + (i*37)%990)}, {Key: "userId", Value: userID},
				{Key: "orderId", Value: ""}, {Key: "version", Value: int64(0)},
			})
		}
		if _, err := coll.InsertMany(ctx, docs); err != nil {
			return fmt.Errorf("seeding tickets: %w", err)
		}
	}
	return nil
}

var nextLinkRe = regexp.MustCompile(`<([^>]*)>;\s*rel="next"`)

// pageOfNewest follows next links from the first page of newest to page n
// (or the last page, in a smaller catalogue) and returns its path.
func (s *Suite) pageOfNewest(ctx context.Context, n int) (string, error) {
	path := "/api/tickets?sort=newest"
	for range n - 1 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.c.base+path, nil)
		if err != nil {
			return "", err
		}
		resp, err := s.c.http.Do(req)
		if err != nil {
			return "", err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		m := nextLinkRe.FindStringSubmatch(resp.Header.Get("Link"))
		if m == nil {
			break
		}
		path = m[1]
	}
	return path, nil
}

// catalogueTarget is a catalogue scenario's target: at one client p50
// under 20 ms at every size; at full concurrency at least 70 % of the
// same query's rate at the smallest size.
func (r *Report) catalogueTarget(res Result) (string, string) {
	query, _, _ := strings.Cut(res.Name, " @")
	if strings.HasSuffix(query, ", 1 client") {
		return "p50 < 20 ms", mark(res.Errors == 0 && res.Percentile(50) < targetCatalogue1P50)
	}
	if len(r.Catalogue) == 0 {
		return "0 errors", mark(res.Errors == 0)
	}
	small, found := r.result(fmt.Sprintf("%s @%d", query, r.Catalogue[0].Tickets))
	if !found || small.Rate() == 0 || small.Name == res.Name {
		return "0 errors", mark(res.Errors == 0)
	}
	share := res.Rate() / small.Rate()
	return fmt.Sprintf("≥ 70 %% of its rate at %d (%.0f %%)", r.Catalogue[0].Tickets, share*100), mark(res.Errors == 0 && share >= targetCatalogueShare)
}

// catalogueMarkdown tells the tickets process's memory at each size and
// the unpaged list's run.
func (r *Report) catalogueMarkdown(b *strings.Builder) {
	if len(r.Catalogue) == 0 {
		return
	}
	b.WriteString("\n| catalogue size | tickets RSS (read model built) | per ticket over the smallest |\n|---:|---:|---:|\n")
	first := r.Catalogue[0]
	for _, c := range r.Catalogue {
		per := "–"
		if c.Tickets > first.Tickets {
			per = fmt.Sprintf("%.0f bytes", float64(c.RSSKB-first.RSSKB)*1024/float64(c.Tickets-first.Tickets))
		}
		fmt.Fprintf(b, "| %d | %.1f MB | %s |\n", c.Tickets, float64(c.RSSKB)/1024, per)
	}
	for _, c := range r.Catalogue {
		if u := c.Unpaged; u != nil {
			fmt.Fprintf(b, "\nThe unpaged list at %d tickets, %d clients: %.1f/s, p50 %s ms, p99 %s ms, %d errors; tickets RSS grew %.1f MB (target: 0 errors and < 50 MB: %s).\n",
				c.Tickets, u.Concurrency, u.Rate(), ms(u.Percentile(50)), ms(u.Percentile(99)), u.Errors, float64(c.UnpagedGrowthKB)/1024,
				mark(u.Errors == 0 && c.UnpagedGrowthKB < targetUnpagedGrowthKB))
		}
	}
}
