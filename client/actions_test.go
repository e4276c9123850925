package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const oid = "0123456789abcdef01234567"

func openOrderJSON(id string) string {
	exp := time.Now().Add(10 * time.Minute).UTC().Format(time.RFC3339Nano)
	return `{"id":"` + id + `","status":"created","expiresAt":"` + exp + `","ticket":{"id":"t1","title":"Concert","price":20}}`
}

func TestCancelAsksForConfirmationThenDeletesTheOrderAndSaysSo(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("GET /api/orders/"+oid, 200, openOrderJSON(oid))
	order := s.get(t, "/orders/"+oid)
	assert.Contains(t, order.Body, `href="/orders/`+oid+`/cancel">Cancel order</a>`, "a link to the confirmation, never a one-click cancel")

	confirm := s.get(t, "/orders/"+oid+"/cancel")
	require.Equal(t, 200, confirm.Status)
	assert.Contains(t, confirm.Body, "<h1>Cancel this order?</h1>")
	assert.Contains(t, confirm.Body, `action="/orders/`+oid+`/cancel"`)

	s.api.json("DELETE /api/orders/"+oid, 204, ``)
	p := s.postWithToken(t, "/orders/"+oid+"/cancel", "/orders/"+oid+"/cancel", url.Values{})
	assert.Equal(t, http.StatusSeeOther, p.Status)
	assert.Equal(t, "/orders/"+oid, p.Location)
	_, deleted := s.api.last("DELETE", "/api/orders/"+oid)
	assert.True(t, deleted)

	s.api.json("GET /api/orders/"+oid, 200, `{"id":"`+oid+`","status":"cancelled","ticket":{"title":"Concert","price":20}}`)
	after := s.get(t, "/orders/"+oid)
	assert.Contains(t, after.Body, flashMessages["cancelled"])
	assert.NotContains(t, s.get(t, "/orders/"+oid).Body, flashMessages["cancelled"], "a flash is shown once")
}

func TestCancellingACompleteOrderShowsTheAPIsReason(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("GET /api/orders/"+oid, 200, openOrderJSON(oid))
	s.api.json("DELETE /api/orders/"+oid, 400, `{"errors":[{"message":"Cannot cancel a complete order"}]}`)
	p := s.postWithToken(t, "/orders/"+oid+"/cancel", "/orders/"+oid+"/cancel", url.Values{})
	assert.Equal(t, 400, p.Status)
	assert.Contains(t, p.Body, "<li>Cannot cancel a complete order</li>")
}

func TestSomeoneElsesOrderIsA404Page(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("GET /api/orders/"+oid, 401, `{"errors":[{"message":"Not authorized"}]}`)
	for _, path := range []string{"/orders/" + oid, "/orders/" + oid + "/cancel"} {
		p := s.get(t, path)
		assert.Equal(t, 404, p.Status, path)
		assert.Contains(t, p.Body, "<h1>Page not found</h1>", path)
	}
	s.api.json("DELETE /api/orders/"+oid, 401, `{"errors":[{"message":"Not authorized"}]}`)
	p := s.postWithToken(t, "/auth/signin", "/orders/"+oid+"/cancel", url.Values{})
	assert.Equal(t, 404, p.Status)
}

func TestEditSavesTheUsersOwnTicketThroughPUTAndRefusesOthers(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("GET /api/tickets/t1", 200, `{"id":"t1","title":"Gig","price":1000000,"userId":"u1"}`)
	form := s.get(t, "/tickets/t1/edit")
	require.Equal(t, 200, form.Status)
	assert.Contains(t, form.Body, `value="1000000.00"`)

	p := s.postWithToken(t, "/tickets/t1/edit", "/tickets/t1/edit", url.Values{"title": {"Gig"}, "price": {"1,000"}})
	assert.Equal(t, 400, p.Status, "the sell form's checks")
	assert.Contains(t, p.Body, `value="1,000"`)

	s.api.json("PUT /api/tickets/t1", 200, `{"id":"t1"}`)
	p = s.postWithToken(t, "/tickets/t1/edit", "/tickets/t1/edit", url.Values{"title": {" Big Gig "}, "price": {"25"}})
	assert.Equal(t, http.StatusSeeOther, p.Status)
	assert.Equal(t, "/tickets/mine", p.Location)
	sent, _ := s.api.last("PUT", "/api/tickets/t1")
	assert.JSONEq(t, `{"title":"Big Gig","price":"25.00"}`, sent.Body)

	s.api.json("GET /api/tickets/t1", 200, `{"id":"t1","title":"Gig","price":5,"userId":"u2"}`)
	assert.Equal(t, 404, s.get(t, "/tickets/t1/edit").Status, "someone else's ticket")
}

func TestTicketPageSaysWhatTheViewerCanDo(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")

	s.api.json("GET /api/tickets/t1", 200, `{"id":"t1","title":"Gig","price":5,"userId":"u1"}`)
	p := s.get(t, "/tickets/t1")
	assert.Contains(t, p.Body, "This is your listing.")
	assert.Contains(t, p.Body, `href="/tickets/t1/edit">Edit</a>`)
	assert.NotContains(t, p.Body, ">Purchase</button>", "a seller cannot buy their own ticket")

	s.api.json("GET /api/tickets/t1", 200, `{"id":"t1","title":"Gig","price":5,"userId":"u2","orderId":"o1"}`)
	s.api.json("GET /api/orders/o1", 200, openOrderJSON("o1"))
	p = s.get(t, "/tickets/t1")
	assert.Contains(t, p.Body, `You reserved this ticket: <a href="/orders/o1">go to your order</a>`)
	assert.NotContains(t, p.Body, ">Purchase</button>")

	s.api.json("GET /api/orders/o1", 401, `{"errors":[{"message":"Not authorized"}]}`)
	p = s.get(t, "/tickets/t1")
	assert.Contains(t, p.Body, `<span class="ticket-status" id="ticket-status" aria-live="polite"><span class="badge status-reserved" data-state="reserved">Reserved</span></span>`)
	assert.Contains(t, p.Body, `id="purchase" hidden`, "someone else's reservation: no Purchase (the script shows it again if released)")

	s.api.json("GET /api/tickets/t1", 200, `{"id":"t1","title":"Gig","price":5,"userId":"u2","orderId":"o1","status":"sold"}`)
	p = s.get(t, "/tickets/t1")
	assert.Contains(t, p.Body, `<span class="badge status-sold" data-state="sold">Sold</span>`)
}

func TestEditIsHiddenWhileTheSellersTicketIsReservedOrSold(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	for _, held := range []string{`"orderId":"o1"`, `"orderId":"o1","status":"sold"`} {
		s.api.json("GET /api/tickets/t1", 200, `{"id":"t1","title":"Gig","price":5,"userId":"u1",`+held+`}`)
		p := s.get(t, "/tickets/t1")
		assert.Contains(t, p.Body, "This is your listing.")
		assert.Contains(t, p.Body, `href="/tickets/t1/edit" hidden>Edit</a>`, held)
	}
}

func TestEditIsRefusedForTheStateTheTicketIsReallyIn(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	for held, why := range map[string]string{
		`"orderId":"o1"`:                 "This ticket is reserved by a buyer, so it cannot be edited while the order is open.",
		`"orderId":"o1","status":"sold"`: "This ticket is sold, so it can no longer be edited.",
	} {
		s.api.json("GET /api/tickets/t1", 200, `{"id":"t1","title":"Gig","price":5,"userId":"u1",`+held+`}`)
		form := s.get(t, "/tickets/t1/edit")
		assert.Equal(t, 200, form.Status)
		assert.Contains(t, form.Body, "<li>"+why+"</li>", held)
		assert.NotContains(t, form.Body, `name="title"`, "no form to fill in for nothing")

		p := s.postWithToken(t, "/tickets/new", "/tickets/t1/edit", url.Values{"title": {"Gig"}, "price": {"6"}})
		assert.Equal(t, http.StatusConflict, p.Status)
		assert.Contains(t, p.Body, "<li>"+why+"</li>", held)
	}
	_, called := s.api.last("PUT", "/api/tickets/t1")
	assert.False(t, called, "refused before asking the API")

	// Bought between the form and the save: tickets says "reserved", the
	// page says what it is.
	var reads int
	s.api.handle("GET /api/tickets/t1", func(w http.ResponseWriter, _ *http.Request) {
		reads++
		if reads == 1 {
			_, _ = w.Write([]byte(`{"id":"t1","title":"Gig","price":5,"userId":"u1","status":"available"}`))
			return
		}
		_, _ = w.Write([]byte(`{"id":"t1","title":"Gig","price":5,"userId":"u1","orderId":"o1","status":"sold"}`))
	})
	s.api.json("PUT /api/tickets/t1", 400, `{"errors":[{"message":"Cannot edit a reserved ticket"}]}`)
	p := s.postWithToken(t, "/tickets/new", "/tickets/t1/edit", url.Values{"title": {"Gig"}, "price": {"6"}})
	assert.Equal(t, http.StatusConflict, p.Status)
	assert.Contains(t, p.Body, "<li>This ticket is sold, so it can no longer be edited.</li>")
	assert.NotContains(t, p.Body, "reserved ticket")
}

func TestPurchasingATicketYouReservedLinksToYourOrderInsteadOfAnError(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("GET /api/tickets/t1", 200, `{"id":"t1","title":"Gig","price":5,"userId":"u2","orderId":"o1"}`)
	s.api.json("GET /api/orders/o1", 200, openOrderJSON("o1"))
	s.api.json("POST /api/orders", 400, `{"errors":[{"message":"Ticket is already reserved"}]}`)
	p := s.postWithToken(t, "/auth/signin", "/tickets/t1", url.Values{})
	assert.NotContains(t, p.Body, "already reserved")
	assert.Contains(t, p.Body, `href="/orders/o1">go to your order</a>`)
}

func TestSignInReturnsToThePageThatAskedForIt(t *testing.T) {
	s := newSite(t)
	p := s.get(t, "/orders/"+oid)
	require.Equal(t, "/auth/signin?next=%2Forders%2F"+oid, p.Location)
	form := s.get(t, p.Location)
	assert.Contains(t, form.Body, `<input type="hidden" name="next" value="/orders/`+oid+`">`)

	s.api.json("POST /api/users/signin", 200, `{"id":"u1","email":"a@b.co"}`)
	done := s.postWithToken(t, p.Location, "/auth/signin", url.Values{"email": {"a@b.co"}, "password": {"password1"}, "next": {"/orders/" + oid}})
	assert.Equal(t, http.StatusSeeOther, done.Status)
	assert.Equal(t, "/orders/"+oid, done.Location)

	// A purchase by a visitor comes back to the ticket.
	post := s.postWithToken(t, "/auth/signin", "/tickets/t1", url.Values{})
	assert.Equal(t, "/auth/signin?next=%2Ftickets%2Ft1", post.Location)
}

func TestSignInNeverReturnsToAnotherSite(t *testing.T) {
	for _, next := range []string{"//evil.example/x", "/\\evil.example", "https://evil.example/", "evil", "/auth/signout", "javascript:alert(1)", "/\t/evil"} {
		if got := safeNext(next); got != "" {
			t.Errorf("safeNext(%q) = %q, want it dropped", next, got)
		}
	}
	for _, ok := range []string{"/", "/orders/" + oid, "/tickets/t1?x=1"} {
		assert.Equal(t, ok, safeNext(ok))
	}
	s := newSite(t)
	s.api.json("POST /api/users/signin", 200, `{"id":"u1","email":"a@b.co"}`)
	done := s.postWithToken(t, "/auth/signin", "/auth/signin", url.Values{"email": {"a@b.co"}, "password": {"password1"}, "next": {"//evil.example/"}})
	assert.Equal(t, "/", done.Location)
}

func TestFlashMessagesConfirmSignInSignOutListingAndPayment(t *testing.T) {
	s := newSite(t)
	s.api.json("GET /api/tickets", 200, `[]`)
	s.api.json("POST /api/users/signin", 200, `{"id":"u1","email":"a@b.co"}`)
	s.postWithToken(t, "/auth/signin", "/auth/signin", url.Values{"email": {"a@b.co"}, "password": {"password1"}})
	assert.Contains(t, s.get(t, "/").Body, `<div class="alert alert-success" role="status" id="flash">You are signed in.</div>`)

	s.api.signedInAs("a@b.co")
	s.api.json("POST /api/tickets", 201, `{"id":"t1"}`)
	s.postWithToken(t, "/tickets/new", "/tickets/new", url.Values{"title": {"Concert"}, "price": {"20"}})
	assert.Contains(t, s.get(t, "/").Body, flashMessages["listed"])

	s.api.json("GET /api/orders/"+oid, 200, openOrderJSON(oid))
	s.api.json("POST /api/payments", 201, `{"success":true,"id":"p1"}`)
	s.postWithToken(t, "/orders/"+oid, "/orders/"+oid+"/pay", url.Values{})
	assert.Contains(t, s.get(t, "/orders/"+oid).Body, flashMessages["paid"])

	s.api.json("POST /api/users/signout", 200, `{}`)
	s.postWithToken(t, "/auth/signout", "/auth/signout", url.Values{})
	assert.Contains(t, s.get(t, "/").Body, flashMessages["signedout"])
}

func TestAFlashCookieCannotPutWordsOnThePage(t *testing.T) {
	s := newSite(t)
	s.api.json("GET /api/tickets", 200, `[]`)
	u, _ := url.Parse(s.URL)
	s.c.Jar.SetCookies(u, []*http.Cookie{{Name: flashCookie, Value: "You won a prize"}})
	p := s.get(t, "/")
	assert.NotContains(t, p.Body, "prize")
	assert.NotContains(t, p.Body, `id="flash"`)
}

func TestHeaderShowsTheSignedInEmail(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a<b>@b.co")
	s.api.json("GET /api/tickets", 200, `[]`)
	assert.Contains(t, s.get(t, "/").Body, `id="signed-in-as" title="Signed in">a&lt;b&gt;@b.co</span>`)
}

func TestSignUpSaysWhatAPasswordMustBe(t *testing.T) {
	s := newSite(t)
	p := s.get(t, "/auth/signup")
	assert.Contains(t, p.Body, `<div id="password-hint" class="form-text">8 to 20 characters.</div>`)
	assert.Contains(t, p.Body, `minlength="8" maxlength="20"`)
}

func TestMyOrdersAreNewestFirstWithPriceDateTimeLeftAndAPayLink(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	// ObjectIDs begin with their creation time: 0x67000000 is 2024-10-04 14:47:28 UTC.
	older, newer := "670000000000000000000001", "670000100000000000000002"
	exp := time.Now().Add(90 * time.Second).UTC().Format(time.RFC3339Nano)
	s.api.json("GET /api/orders", 200, `[
		{"id":"`+older+`","status":"complete","expiresAt":"2024-10-04T00:15:00Z","ticket":{"title":"Old show","price":1000000}},
		{"id":"`+newer+`","status":"created","expiresAt":"`+exp+`","ticket":{"title":"New show","price":20.5}}]`)
	p := s.get(t, "/orders")
	require.Equal(t, 200, p.Status)
	assert.Less(t, strings.Index(p.Body, "New show"), strings.Index(p.Body, "Old show"), "newest first")
	assert.Contains(t, p.Body, "$1,000,000.00")
	assert.Contains(t, p.Body, "$20.50")
	assert.Contains(t, p.Body, `<time datetime="2024-10-04T14:47:28Z">4 Oct 2024 14:47 UTC</time>`)
	assert.Regexp(t, `1:(29|30) left</span> <a class="btn btn-primary btn-sm pay-link" href="/orders/`+newer+`">Pay</a>`, p.Body)
	assert.NotContains(t, p.Body, `href="/orders/`+older+`">Pay</a>`, "only open orders can be paid")
}

func TestFaviconIsServedByTheClient(t *testing.T) {
	s := newSite(t)
	resp, err := s.c.Get(s.URL + "/favicon.ico")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "image/x-icon", resp.Header.Get("Content-Type"))
}

func TestPricesAreGroupedAndCountdownsAreMinutesAndSeconds(t *testing.T) {
	for p, want := range map[float64]string{0.5: "$0.50", 20.1: "$20.10", 999.99: "$999.99", 1000: "$1,000.00", 1000000: "$1,000,000.00", 12345.675: "$12,345.68"} {
		assert.Equal(t, want, usd(p), "%v", p)
	}
	for s, want := range map[int]string{900: "15:00", 61: "1:01", 9: "0:09", 0: "0:00", -3: "0:00"} {
		assert.Equal(t, want, mmss(s), "%d", s)
	}
}

func TestNoStaleFlashOnceTheOrderIsNoLongerAwaitingPayment(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("GET /api/tickets/t1", 200, `{"id":"t1","title":"Gig","price":5,"userId":"u2"}`)
	s.api.json("POST /api/orders", 201, `{"id":"`+oid+`","status":"created"}`)
	s.api.json("GET /api/orders/"+oid, 200, openOrderJSON(oid))
	s.postWithToken(t, "/tickets/t1", "/tickets/t1", url.Values{})
	assert.Contains(t, s.get(t, "/orders/"+oid).Body, flashMessages["reserved"], "while it can be paid")

	past := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	s.api.json("GET /api/orders/"+oid, 200, `{"id":"`+oid+`","status":"cancelled","expiresAt":"`+past+`","ticket":{"id":"t1","title":"Gig","price":5}}`)
	s.postWithToken(t, "/tickets/t1", "/tickets/t1", url.Values{})
	p := s.get(t, "/orders/"+oid)
	assert.NotContains(t, p.Body, flashMessages["reserved"], "not above Expired")
	assert.Contains(t, p.Body, `data-state="expired" aria-live="polite">Expired</span>`)
}

func TestOrderPageWordsEachStateAndAnnouncesChangesPolitely(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("GET /api/orders/"+oid, 200, openOrderJSON(oid))
	p := s.get(t, "/orders/"+oid)
	assert.Contains(t, p.Body, `<span class="badge status-awaiting" id="order-status" data-state="awaiting" aria-live="polite">Awaiting payment</span>`)
	assert.Regexp(t, `<p id="countdown" role="timer" data-expires-at="[^"]+">Time left to pay: (10:00|9:59)</p>`, p.Body)
	assert.Regexp(t, `<p id="countdown-say" class="visually-hidden" aria-live="polite" aria-atomic="true">(10|9) minutes left to pay</p>`, p.Body)

	for status, want := range map[string]string{
		`"complete"`:                  `data-when="paid">Paid. Enjoy the show!`,
		`"cancelled"`:                 `data-when="cancelled">You cancelled this order`,
		`"cancelled","refunded":true`: `data-when="refunded">This order was cancelled before your payment went through`,
	} {
		exp := time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano)
		s.api.json("GET /api/orders/"+oid, 200, `{"id":"`+oid+`","status":`+status+`,"expiresAt":"`+exp+`","ticket":{"title":"Gig","price":5}}`)
		p := s.get(t, "/orders/"+oid)
		assert.Contains(t, p.Body, want, status)
		assert.NotContains(t, p.Body, `id="countdown"`, status)
	}
}

func TestAuthPagesLinkToEachOther(t *testing.T) {
	s := newSite(t)
	assert.Contains(t, s.get(t, "/auth/signin").Body, `New here? <a href="/auth/signup">Sign up</a>`)
	assert.Contains(t, s.get(t, "/auth/signup").Body, `Already have an account? <a href="/auth/signin">Sign in</a>`)
	assert.Contains(t, s.get(t, "/auth/signup?next=/orders").Body, `<a href="/auth/signin?next=%2forders">Sign in</a>`, "and keep where to go back to")
}

func TestPhoneNavbarCollapsesWithoutAScript(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("GET /api/tickets", 200, `[]`)
	p := s.get(t, "/")
	assert.Contains(t, p.Body, `class="navbar navbar-expand-md`)
	assert.Regexp(t, `<details class="nav-menu d-md-none">\s*<summary class="navbar-toggler">.*<span class="visually-hidden">Menu</span></summary>(?s:.*?)href="/orders">My Orders</a>(?s:.*?)</details>`, p.Body)
	assert.Contains(t, p.Body, `<ul class="navbar-nav ms-auto d-none d-md-flex`)
	assert.Equal(t, 1, strings.Count(p.Body, `id="signed-in-as"`), "ids stay unique")
	assert.Equal(t, 404, s.get(t, "/static/bootstrap.bundle.min.js").Status, "no Bootstrap JS: the menu must not need it")
}
