package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/validate"
)

func TestCreateRouteExistsAndRequiresAuth(t *testing.T) {
	e := newEnv(t)
	r := do(t, "POST", e.URL+"/api/tickets", `{}`)
	assert.Equal(t, 401, r.Status)
	assert.JSONEq(t, `{"errors":[{"message":"Not authorized"}]}`, r.Raw)
	r = do(t, "POST", e.URL+"/api/tickets", `{}`, user(t, "u1"))
	assert.NotEqual(t, 401, r.Status)
	assert.NotEqual(t, 404, r.Status)
}

func TestCreateRejectsInvalidInput(t *testing.T) {
	e := newEnv(t)
	for body, field := range map[string]string{
		`{"title":"","price":10}`:               "title",
		`{"price":10}`:                          "title",
		`{"title":"ab","price":10}`:             "title",
		`{"title":"concert","price":-10}`:       "price",
		`{"title":"concert"}`:                   "price",
		`{"title":"concert","price":"ten"}`:     "price",
		`{"title":"concert","price":0}`:         "price",
		`{"title":"concert","price":1e308}`:     "price",
		`{"title":["a","b","c"],"price":10}`:    "title",
		`{"title":"concert","price":{"$gt":0}}`: "price",
	} {
		r := do(t, "POST", e.URL+"/api/tickets", body, user(t, "u1"))
		assert.Equal(t, 400, r.Status, body)
		assert.Contains(t, r.Raw, `"field":"`+field+`"`, body)
	}
	list := do(t, "GET", e.URL+"/api/tickets", "")
	assert.Empty(t, list.List, "nothing stored")
}

func TestCreateStoresTheTicketAndPublishesTicketCreated(t *testing.T) {
	e := newEnv(t)
	got := testkit.Capture[events.TicketCreated](t, e.bus)
	body := create(t, e, user(t, "u1"), "concert", 20)
	assert.Equal(t, "concert", body["title"])
	assert.Equal(t, 20.0, body["price"])
	assert.Equal(t, "u1", body["userId"])
	assert.Equal(t, 0.0, body["version"])
	assert.NotContains(t, body, "orderId")

	id, _ := primitive.ObjectIDFromHex(body["id"].(string))
	stored, err := e.store.Get(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, "concert", stored.Title)
	assert.Equal(t, 20.0, stored.Price)

	ev := got.Wait(t, 1, 5*time.Second)[0]
	assert.Equal(t, events.TicketCreated{ID: id.Hex(), Version: 0, Title: "concert", Price: 20, UserID: "u1"}, ev)
	keys := got.Raw(t, 0)
	assert.ElementsMatch(t, []string{"id", "version", "title", "price", "userId"}, testkit.Keys(keys))
}

func TestPriceMayBeANumericStringAndIsKeptInWholeCents(t *testing.T) {
	e := newEnv(t)
	r := do(t, "POST", e.URL+"/api/tickets", `{"title":"concert","price":"20.10"}`, user(t, "u1"))
	require.Equal(t, 201, r.Status, r.Raw)
	assert.Equal(t, 20.10, r.Body["price"])
	r = do(t, "POST", e.URL+"/api/tickets", `{"title":"concert","price":12.345}`, user(t, "u1"))
	require.Equal(t, 201, r.Status, r.Raw)
	assert.Equal(t, 12.35, r.Body["price"])
}

// envelope is the 400 body for one field's message.
func envelope(field, message string) string {
	b, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"message": message, "field": field}}})
	return string(b)
}

// badPrices cannot be charged, or are not prices at all (docs/CONTRACT.md §2a).
var badPrices = []string{
	`"1,000"`, `"12,50"`, `"$5"`, `"abc"`, `""`, `1e-300`, `0.001`, `"0.001"`, `0.49`, `"0.49"`,
	`0`, `-1`, `1000000.01`, `1e308`, `null`, `true`, `{"$gt":0}`,
}

// badTitles are blank after trimming, or hold control or bidi-override
// characters, or are not UTF-8 (the last, as raw bytes).
var badTitles = map[string]string{
	`"   "`:                  "Title must be 3 to 200 characters",
	`"  ab  "`:               "Title must be 3 to 200 characters",
	`"con\u0000cert"`:        validate.TitleMessage,
	`"concert\u0007"`:        validate.TitleMessage,
	`"con\u007fcert"`:        validate.TitleMessage,
	`"con\u0085cert"`:        validate.TitleMessage,
	`"con\ncert"`:            validate.TitleMessage,
	`"\u202etxt.exe"`:        validate.TitleMessage,
	`"concert\u202a"`:        validate.TitleMessage,
	`"\u2066concert\u2069"`:  validate.TitleMessage,
	"\"caf\xe9 in latin-1\"": validate.TitleMessage,
}

func TestCreateRefusesPricesThatCannotBeChargedWithAMessage(t *testing.T) {
	e := newEnv(t)
	for _, price := range badPrices {
		r := do(t, "POST", e.URL+"/api/tickets", `{"title":"concert","price":`+price+`}`, user(t, "u1"))
		assert.Equal(t, 400, r.Status, price)
		assert.JSONEq(t, envelope("price", validate.PriceMessage), r.Raw, price)
	}
	assert.Empty(t, do(t, "GET", e.URL+"/api/tickets", "").List, "nothing stored")
}

func TestCreateAcceptsTheSmallestChargeAndTheLargestPrice(t *testing.T) {
	e := newEnv(t)
	// Each typed price and the plain JSON number it is listed at.
	for price, want := range map[string]string{`0.5`: `0.5`, `"0.50"`: `0.5`, `0.495`: `0.5`, `"20.10"`: `20.1`, `1000000`: `1000000`} {
		r := do(t, "POST", e.URL+"/api/tickets", `{"title":"concert","price":`+price+`}`, user(t, "u1"))
		require.Equal(t, 201, r.Status, "%s: %s", price, r.Raw)
		assert.Contains(t, r.Raw, `"price":`+want+`,`, price)
	}
}

func TestCreateRefusesTitlesThatAreBlankOrHoldControlOrBidiCharacters(t *testing.T) {
	e := newEnv(t)
	for title, msg := range badTitles {
		r := do(t, "POST", e.URL+"/api/tickets", `{"title":`+title+`,"price":10}`, user(t, "u1"))
		assert.Equal(t, 400, r.Status, title)
		assert.JSONEq(t, envelope("title", msg), r.Raw, title)
	}
	assert.Empty(t, do(t, "GET", e.URL+"/api/tickets", "").List, "nothing stored")
}

func TestCreateStoresTheTitleTrimmed(t *testing.T) {
	e := newEnv(t)
	got := testkit.Capture[events.TicketCreated](t, e.bus)
	r := do(t, "POST", e.URL+"/api/tickets", `{"title":"  Concert \n","price":10}`, user(t, "u1"))
	require.Equal(t, 201, r.Status, r.Raw)
	assert.Equal(t, "Concert", r.Body["title"])
	assert.Equal(t, "Concert", got.Wait(t, 1, 5*time.Second)[0].Title, "the event carries the trimmed title")
}

func TestUpdateAppliesThePriceAndTitleRules(t *testing.T) {
	e := newEnv(t)
	owner := user(t, "owner")
	id := create(t, e, owner, "concert", 20)["id"].(string)
	for _, price := range badPrices {
		r := do(t, "PUT", e.URL+"/api/tickets/"+id, `{"title":"concert","price":`+price+`}`, owner)
		assert.Equal(t, 400, r.Status, price)
		assert.JSONEq(t, envelope("price", validate.PriceMessage), r.Raw, price)
	}
	for title, msg := range badTitles {
		if msg != validate.TitleMessage {
			msg = "Title is required (at most 200 characters)" // update's own length rule
		}
		if title == `"  ab  "` {
			continue // two characters are enough on update, as in the original
		}
		r := do(t, "PUT", e.URL+"/api/tickets/"+id, `{"title":`+title+`,"price":10}`, owner)
		assert.Equal(t, 400, r.Status, title)
		assert.JSONEq(t, envelope("title", msg), r.Raw, title)
	}
	r := do(t, "PUT", e.URL+"/api/tickets/"+id, `{"title":" new title ","price":"0.5"}`, owner)
	require.Equal(t, 200, r.Status, r.Raw)
	assert.Equal(t, "new title", r.Body["title"])
	assert.Equal(t, 0.5, r.Body["price"])
	assert.Equal(t, 1.0, r.Body["version"], "only the valid update made a version")
}

func TestShowReturns404ForUnknownOrMalformedIDs(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{primitive.NewObjectID().Hex(), "not-an-id", "zzzzzzzzzzzzzzzzzzzzzzzz"} {
		r := do(t, "GET", e.URL+"/api/tickets/"+id, "")
		assert.Equal(t, 404, r.Status, id)
		assert.JSONEq(t, `{"errors":[{"message":"Not Found"}]}`, r.Raw)
	}
}

func TestShowReturnsTheTicket(t *testing.T) {
	e := newEnv(t)
	created := create(t, e, user(t, "u1"), "concert", 20)
	r := do(t, "GET", e.URL+"/api/tickets/"+created["id"].(string), "")
	require.Equal(t, 200, r.Status)
	assert.Equal(t, created, r.Body)
}

func TestListReturnsAllTickets(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		create(t, e, user(t, fmt.Sprintf("u%d", i)), fmt.Sprintf("ticket %d", i), float64(10+i))
	}
	r := do(t, "GET", e.URL+"/api/tickets", "")
	require.Equal(t, 200, r.Status)
	require.Len(t, r.List, 3)
	assert.Equal(t, "ticket 0", r.List[0]["title"])
	assert.Equal(t, "ticket 2", r.List[2]["title"])
}

func TestListOfNoTicketsIsAnEmptyArray(t *testing.T) {
	e := newEnv(t)
	assert.Equal(t, "[]\n", do(t, "GET", e.URL+"/api/tickets", "").Raw)
}

func TestUpdateErrors(t *testing.T) {
	e := newEnv(t)
	owner := user(t, "owner")
	id := create(t, e, owner, "concert", 20)["id"].(string)
	valid := `{"title":"new title","price":30}`

	assert.Equal(t, 404, do(t, "PUT", e.URL+"/api/tickets/"+primitive.NewObjectID().Hex(), valid, owner).Status)
	assert.Equal(t, 404, do(t, "PUT", e.URL+"/api/tickets/nope", valid, owner).Status)
	assert.Equal(t, 401, do(t, "PUT", e.URL+"/api/tickets/"+id, valid).Status)
	notOwner := do(t, "PUT", e.URL+"/api/tickets/"+id, valid, user(t, "someone-else"))
	assert.Equal(t, 401, notOwner.Status)
	assert.JSONEq(t, `{"errors":[{"message":"Not authorized"}]}`, notOwner.Raw)
	for _, body := range []string{`{"title":"","price":30}`, `{"title":"t","price":-10}`, `{"title":"t"}`, `not json`} {
		assert.Equal(t, 400, do(t, "PUT", e.URL+"/api/tickets/"+id, body, owner).Status, body)
	}
	r := do(t, "GET", e.URL+"/api/tickets/"+id, "")
	assert.Equal(t, "concert", r.Body["title"], "nothing changed")
	assert.Equal(t, 0.0, r.Body["version"])
}

func TestUpdatePersistsAndPublishesTicketUpdated(t *testing.T) {
	e := newEnv(t)
	owner := user(t, "owner")
	id := create(t, e, owner, "concert", 20)["id"].(string)
	got := testkit.Capture[events.TicketUpdated](t, e.bus)

	r := do(t, "PUT", e.URL+"/api/tickets/"+id, `{"title":"new title","price":"100"}`, owner)
	require.Equal(t, 200, r.Status, r.Raw)
	assert.Equal(t, 1.0, r.Body["version"])
	show := do(t, "GET", e.URL+"/api/tickets/"+id, "")
	assert.Equal(t, "new title", show.Body["title"])
	assert.Equal(t, 100.0, show.Body["price"])

	ev := got.Wait(t, 1, 5*time.Second)[0]
	assert.Equal(t, events.TicketUpdated{ID: id, Version: 1, Title: "new title", Price: 100, UserID: "owner"}, ev)
	assert.NotContains(t, got.Raw(t, 0), "orderId", "no orderId key while unreserved")
}

func TestReservedTicketCannotBeEdited(t *testing.T) {
	e := newEnv(t)
	owner := user(t, "owner")
	id := create(t, e, owner, "concert", 20)["id"].(string)
	orderID := primitive.NewObjectID().Hex()
	testkit.Publish(t, e.bus, events.OrderCreated{ID: orderID, Status: events.StatusCreated, UserID: "buyer", ExpiresAt: time.Now().Add(time.Minute), Ticket: events.OrderTicket{ID: id, Price: 20}})
	require.Eventually(t, func() bool {
		return do(t, "GET", e.URL+"/api/tickets/"+id, "").Body["orderId"] == orderID
	}, 5*time.Second, 20*time.Millisecond)

	r := do(t, "PUT", e.URL+"/api/tickets/"+id, `{"title":"new title","price":30}`, owner)
	assert.Equal(t, 400, r.Status)
	assert.JSONEq(t, `{"errors":[{"message":"Cannot edit a reserved ticket"}]}`, r.Raw)
}

func TestConcurrentUpdatesOverTwoProcessesNeverLoseAVersion(t *testing.T) {
	e := newEnv(t)
	twinURL, _ := e.process(t)
	owner := user(t, "owner")
	id := create(t, e, owner, "concert", 20)["id"].(string)
	got := testkit.Capture[events.TicketUpdated](t, e.bus)
	const n = 20
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := []string{e.URL, twinURL}[i%2]
			statuses[i] = do(t, "PUT", base+"/api/tickets/"+id, fmt.Sprintf(`{"title":"title %d","price":%d}`, i, i+1), owner).Status
		}()
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		require.Contains(t, []int{200, 409}, s)
		if s == 200 {
			ok++
		}
	}
	final := do(t, "GET", e.URL+"/api/tickets/"+id, "")
	assert.Equal(t, float64(ok), final.Body["version"], "one version per successful write")
	evs := got.Wait(t, ok, 10*time.Second)
	// Delivery is at least once: a version may repeat right after itself,
	// but the versions go 1..n in order.
	var seq []int64
	for _, ev := range evs {
		if len(seq) == 0 || seq[len(seq)-1] != ev.Version {
			seq = append(seq, ev.Version)
		}
	}
	for i, v := range seq {
		assert.Equal(t, int64(i+1), v, "events carry versions 1..n in order: %v", seq)
	}
	last := evs[len(evs)-1]
	assert.Equal(t, final.Body["title"], last.Title)
}
