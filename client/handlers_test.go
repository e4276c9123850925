package main

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/service"
	"ticketing.dev/common/validate"
)

// fakeAPI stands in for the four APIs: each route answers as set, and every
// request is recorded with its body and session cookie.
type fakeAPI struct {
	*httptest.Server
	mu       sync.Mutex
	routes   map[string]http.HandlerFunc
	requests []recorded
}

type recorded struct {
	Method, Path, Body, Session string
	IdempotencyKey              string
	Query                       url.Values
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{routes: map[string]http.HandlerFunc{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		session := ""
		if c, err := r.Cookie("session"); err == nil {
			session = c.Value
		}
		f.mu.Lock()
		f.requests = append(f.requests, recorded{r.Method, r.URL.Path, string(body), session, r.Header.Get("Idempotency-Key"), r.URL.Query()})
		h, ok := f.routes[r.Method+" "+r.URL.Path]
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"errors":[{"message":"Not Found"}]}`))
			return
		}
		h(w, r)
	}))
	t.Cleanup(f.Close)
	f.json("GET /api/users/currentuser", 200, `{"currentUser":null}`)
	return f
}

func (f *fakeAPI) json(route string, status int, body string) {
	f.handle(route, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
}

func (f *fakeAPI) handle(route string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[route] = h
}

func (f *fakeAPI) signedInAs(email string) {
	f.json("GET /api/users/currentuser", 200, `{"currentUser":{"id":"u1","email":"`+email+`","iat":1}}`)
}

func (f *fakeAPI) last(method, path string) (recorded, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.requests) - 1; i >= 0; i-- {
		if f.requests[i].Method == method && f.requests[i].Path == path {
			return f.requests[i], true
		}
	}
	return recorded{}, false
}

// site is the client in front of a fake API, with a browser-like client
// that keeps cookies and does not follow redirects.
type site struct {
	URL string
	api *fakeAPI
	c   *http.Client
}

func newSite(t *testing.T, mutate ...func(*config)) site {
	t.Helper()
	return newSiteWith(t, nil, mutate...)
}

// newSiteWith is newSite with a look at the frontend before it serves.
func newSiteWith(t *testing.T, inspect func(*frontend), mutate ...func(*config)) site {
	t.Helper()
	api := newFakeAPI(t)
	cfg := config{AuthURL: api.URL, TicketsURL: api.URL, OrdersURL: api.URL, PaymentsURL: api.URL, Timeout: 2 * time.Second}
	for _, m := range mutate {
		m(&cfg)
	}
	log := service.NewLogger(io.Discard, "client", "info")
	f, err := newFrontend(cfg, log)
	require.NoError(t, err)
	if inspect != nil {
		inspect(f)
	}
	srv := httptest.NewServer(routes(f, log, false))
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	return site{URL: srv.URL, api: api, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type pageResp struct {
	Status   int
	Body     string
	Location string
	Header   http.Header
}

func (s site) get(t *testing.T, path string) pageResp {
	t.Helper()
	resp, err := s.c.Get(s.URL + path)
	require.NoError(t, err)
	return read(t, resp)
}

func (s site) post(t *testing.T, path string, form url.Values) pageResp {
	t.Helper()
	resp, err := s.c.PostForm(s.URL+path, form)
	require.NoError(t, err)
	return read(t, resp)
}

// postWithToken fetches a page for its CSRF token, then posts the form.
func (s site) postWithToken(t *testing.T, formPage, path string, form url.Values) pageResp {
	t.Helper()
	form.Set("csrf_token", csrfFrom(t, s.get(t, formPage).Body))
	return s.post(t, path, form)
}

func read(t *testing.T, resp *http.Response) pageResp {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return pageResp{Status: resp.StatusCode, Body: string(b), Location: resp.Header.Get("Location"), Header: resp.Header}
}

// inputAttr is the attribute of the input element with id, as a browser
// reads it (unescaped).
func inputAttr(t *testing.T, body, id, attr string) string {
	t.Helper()
	tag := regexp.MustCompile(`<input id="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(body)
	require.NotEmpty(t, tag, "no input #%s", id)
	m := regexp.MustCompile(`\s` + regexp.QuoteMeta(attr) + `="([^"]*)"`).FindStringSubmatch(tag)
	require.NotNil(t, m, "input #%s has no %s", id, attr)
	return html.UnescapeString(m[1])
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([0-9a-f]{64})"`)

func csrfFrom(t *testing.T, body string) string {
	t.Helper()
	m := csrfInput.FindStringSubmatch(body)
	require.NotNil(t, m, "no CSRF token in the page")
	return m[1]
}

func TestHeaderLinksForSignedOutVisitors(t *testing.T) {
	s := newSite(t)
	s.api.json("GET /api/tickets", 200, `[]`)
	for _, path := range []string{"/", "/auth/signup", "/auth/signin"} {
		p := s.get(t, path)
		require.Equal(t, 200, p.Status, path)
		assert.Contains(t, p.Body, `<a class="navbar-brand fw-bold" href="/">GitTix</a>`)
		assert.Contains(t, p.Body, `href="/auth/signup">Sign Up</a>`)
		assert.Contains(t, p.Body, `href="/auth/signin">Sign In</a>`)
		assert.NotContains(t, p.Body, "Sign Out")
		assert.NotContains(t, p.Body, "Sell Tickets")
	}
}

func TestHeaderLinksForSignedInUsers(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("GET /api/tickets", 200, `[]`)
	s.api.json("GET /api/orders", 200, `[]`)
	for _, path := range []string{"/", "/tickets/new", "/orders"} {
		p := s.get(t, path)
		require.Equal(t, 200, p.Status, path)
		assert.Contains(t, p.Body, `href="/tickets/new">Sell Tickets</a>`)
		assert.Contains(t, p.Body, `href="/orders">My Orders</a>`)
		assert.Contains(t, p.Body, `href="/auth/signout">Sign Out</a>`)
		assert.NotContains(t, p.Body, ">Sign Up<")
	}
}

func TestHomeListsTicketsWithStatusBadgesAndEscapesText(t *testing.T) {
	s := newSite(t)
	s.api.json("GET /api/tickets", 200, `[
		{"id":"t1","title":"Concert","price":20,"userId":"u","version":0},
		{"id":"t2","title":"<script>alert(1)</script>","price":12.5,"userId":"u","version":1,"orderId":"o1"}]`)
	p := s.get(t, "/")
	require.Equal(t, 200, p.Status)
	assert.Contains(t, p.Body, "<h1>Tickets</h1>")
	assert.Contains(t, p.Body, "$20.00")
	assert.Contains(t, p.Body, "$12.50")
	assert.Regexp(t, `Concert</td>\s*<td class="ticket-price">\$20.00</td>\s*<td class="nowrap"><span class="ticket-status" aria-live="polite"><span class="badge status-available" data-state="available">Available</span>`, p.Body)
	assert.Contains(t, p.Body, `<span class="badge status-reserved" data-state="reserved">Reserved</span>`)
	assert.Contains(t, p.Body, `href="/tickets/t1">View</a>`)
	assert.NotContains(t, p.Body, "<script>alert(1)</script>")
	assert.Contains(t, p.Body, "&lt;script&gt;alert(1)&lt;/script&gt;")
}

func TestSignupShowsAPIErrorsInTheErrorBoxUnderAPlainHeading(t *testing.T) {
	s := newSite(t)
	s.api.json("POST /api/users/signup", 400, `{"errors":[{"message":"Email must be valid","field":"email"},{"message":"Password must be between 8 and 20 characters","field":"password"}]}`)
	p := s.postWithToken(t, "/auth/signup", "/auth/signup", url.Values{"email": {"bad<b>"}, "password": {"x"}})
	assert.Equal(t, 400, p.Status)
	assert.NotContains(t, p.Body, "Ooops")
	assert.Contains(t, p.Body, `<div class="alert alert-danger" role="alert">`)
	assert.Contains(t, p.Body, "<li>Email must be valid</li>")
	assert.Contains(t, p.Body, "<li>Password must be between 8 and 20 characters</li>")
	assert.Contains(t, p.Body, `value="bad&lt;b&gt;"`, "the typed email is kept, escaped")
}

func TestSigninRelaysTheSessionCookieAndGoesHome(t *testing.T) {
	s := newSite(t)
	s.api.handle("POST /api/users/signin", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "eyJqd3QiOiJ4In0=", Path: "/", HttpOnly: true})
		w.WriteHeader(200)
		_ = json.NewEncoder(w).Encode(map[string]string{"id": "u1", "email": body["email"]})
	})
	p := s.postWithToken(t, "/auth/signin", "/auth/signin", url.Values{"email": {"a@b.co"}, "password": {"password1"}})
	assert.Equal(t, http.StatusSeeOther, p.Status)
	assert.Equal(t, "/", p.Location)
	assert.Contains(t, p.Header.Values("Set-Cookie"), "session=eyJqd3QiOiJ4In0=; Path=/; HttpOnly")
	sent, ok := s.api.last("POST", "/api/users/signin")
	require.True(t, ok)
	assert.JSONEq(t, `{"email":"a@b.co","password":"password1"}`, sent.Body)

	// The browser now sends the cookie; the client forwards it to the APIs.
	s.api.json("GET /api/tickets", 200, `[]`)
	s.get(t, "/")
	got, _ := s.api.last("GET", "/api/users/currentuser")
	assert.Equal(t, "eyJqd3QiOiJ4In0=", got.Session)
}

func TestSignoutRelaysTheExpiredCookie(t *testing.T) {
	s := newSite(t)
	s.api.handle("POST /api/users/signout", func(w http.ResponseWriter, _ *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "", Path: "/", MaxAge: -1})
		_, _ = w.Write([]byte(`{}`))
	})
	p := s.postWithToken(t, "/auth/signout", "/auth/signout", url.Values{})
	assert.Equal(t, http.StatusSeeOther, p.Status)
	assert.Equal(t, "/", p.Location)
	assert.Contains(t, strings.Join(p.Header.Values("Set-Cookie"), "\n"), "session=; Path=/; Max-Age=0")
}

func TestFormPostsRequireTheCSRFToken(t *testing.T) {
	s := newSite(t)
	s.api.json("POST /api/users/signin", 200, `{"id":"u1","email":"a@b.co"}`)
	form := url.Values{"email": {"a@b.co"}, "password": {"password1"}}

	p := s.post(t, "/auth/signin", form)
	assert.Equal(t, http.StatusForbidden, p.Status, "no token at all")
	assert.Contains(t, p.Body, "This form has expired")

	s.get(t, "/auth/signin") // now the browser has a token cookie
	form.Set("csrf_token", strings.Repeat("0", 64))
	assert.Equal(t, http.StatusForbidden, s.post(t, "/auth/signin", form).Status, "a wrong token")
	_, called := s.api.last("POST", "/api/users/signin")
	assert.False(t, called, "refused posts never reach the API")

	assert.Equal(t, http.StatusSeeOther, s.postWithToken(t, "/auth/signin", "/auth/signin", form).Status)
}

func TestCrossSiteFormPostIsRefused(t *testing.T) {
	s := newSite(t)
	tok := csrfFrom(t, s.get(t, "/auth/signin").Body)
	req, _ := http.NewRequest("POST", s.URL+"/auth/signin", strings.NewReader(url.Values{"csrf_token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := s.c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestNewTicketShowsTheAPIsRefusalBesideItsFieldWithThePriceNormalised(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("POST /api/tickets", 400, `{"errors":[{"message":"Title is taken","field":"title"},{"message":"Try again later"}]}`)
	p := s.postWithToken(t, "/tickets/new", "/tickets/new", url.Values{"title": {"Concert"}, "price": {"20"}})
	assert.Equal(t, 400, p.Status)
	assert.Regexp(t, `<input id="title" name="title" class="form-control is-invalid" value="Concert"[^>]* aria-invalid="true" aria-describedby="title-error">\s*<div id="title-error" class="invalid-feedback d-block">Title is taken</div>`, p.Body)
	assert.Contains(t, p.Body, "<li>Try again later</li>", "a message that names no field goes in the form's error box")
	assert.Contains(t, p.Body, `value="20.00"`, "price shown with two decimals")
	sent, _ := s.api.last("POST", "/api/tickets")
	assert.JSONEq(t, `{"title":"Concert","price":"20.00"}`, sent.Body)
}

func TestSellingLandsOnTheNewTicketsPageWithAFlash(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("POST /api/tickets", 201, `{"id":"`+oid+`","title":"Concert","price":20,"userId":"u1","version":0}`)
	p := s.postWithToken(t, "/tickets/new", "/tickets/new", url.Values{"title": {"Concert"}, "price": {"20"}})
	assert.Equal(t, http.StatusSeeOther, p.Status)
	assert.Equal(t, "/tickets/"+oid, p.Location)

	s.api.json("GET /api/tickets/"+oid, 200, `{"id":"`+oid+`","title":"Concert","price":20,"userId":"u1","version":0}`)
	page := s.get(t, p.Location)
	assert.Contains(t, page.Body, `<div class="alert alert-success" role="status" id="flash">Your ticket is listed.</div>`)
	assert.Contains(t, page.Body, "This is your listing.")
}

// Prices the form's words refuse, though the API would take (and round)
// some of them.
var refusedPrices = []string{"1,000", "12,50", "$5", "abc", "", "0.49", "0.001", "1e-300", "1000000.01",
	"1e6", "+5", "20.005", "2E1", ".5", "20.", "0x10", "Inf", "-5"}

func TestNewTicketRefusesAPriceAsTypedAndNeverChangesItsMagnitude(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	for _, typed := range refusedPrices {
		p := s.postWithToken(t, "/tickets/new", "/tickets/new", url.Values{"title": {"Concert"}, "price": {typed}})
		assert.Equal(t, 400, p.Status, typed)
		assert.Contains(t, p.Body, `<div id="price-error" class="invalid-feedback d-block">`+validate.PriceMessage+`</div>`, typed)
		assert.Equal(t, typed, inputAttr(t, p.Body, "price", "value"), "the price is kept as typed")
		assert.Contains(t, p.Body, `value="Concert"`, "the title is kept")
	}
	_, called := s.api.last("POST", "/api/tickets")
	assert.False(t, called, "a refused price never reaches the API")
}

func TestThePricePatternAttributeRefusesWhatTheServerRefuses(t *testing.T) {
	// The browser matches the pattern against the whole value.
	browser := regexp.MustCompile(`^(?:` + pricePattern + `)$`)
	for _, typed := range refusedPrices {
		if typed == "0.49" || typed == "1000000.01" {
			continue // in the pattern's form, out of bounds: only the server knows bounds
		}
		assert.False(t, browser.MatchString(typed), "pattern takes %q", typed)
	}
	for _, typed := range []string{"20", "20.5", "20.50", " 0.50 ", "1000000"} {
		assert.True(t, browser.MatchString(typed), "pattern refuses %q", typed)
	}
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	form := s.get(t, "/tickets/new").Body
	assert.Equal(t, pricePattern, inputAttr(t, form, "price", "pattern"))
	assert.Contains(t, form, `aria-describedby="price-hint"`)
}

func TestSellFormShowsTitleAndPriceErrorsAtOnceBesideTheirFields(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	p := s.postWithToken(t, "/tickets/new", "/tickets/new", url.Values{"title": {"x"}, "price": {"1e6"}})
	assert.Equal(t, 400, p.Status)
	assert.Regexp(t, `<input id="title"[^>]*class="form-control is-invalid"[^>]* aria-invalid="true" aria-describedby="title-error">`, p.Body)
	assert.Contains(t, p.Body, `<div id="title-error" class="invalid-feedback d-block">Title must be 3 to 200 characters</div>`)
	assert.Regexp(t, `<input id="price"[^>]*class="form-control is-invalid"[^>]* aria-invalid="true" aria-describedby="price-hint price-error">`, p.Body)
	assert.Contains(t, p.Body, `<div id="price-error" class="invalid-feedback d-block">`+validate.PriceMessage+`</div>`)
	assert.NotContains(t, p.Body, `class="alert alert-danger"`, "no box: each error is beside its field")
	_, called := s.api.last("POST", "/api/tickets")
	assert.False(t, called)

	fresh := s.get(t, "/tickets/new").Body
	assert.NotContains(t, fresh, "aria-invalid", "a new form has nothing wrong")
	assert.Contains(t, fresh, `required minlength="3" maxlength="200"`)
}

func TestNewTicketRefusesControlAndBidiCharactersInTheTitle(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	for _, typed := range []string{"Con\x00cert", "\u202eConcert", "Con\u2066cert", "Con\x7fcert", "caf\xe9"} {
		p := s.postWithToken(t, "/tickets/new", "/tickets/new", url.Values{"title": {typed}, "price": {"20"}})
		assert.Equal(t, 400, p.Status, "%q", typed)
		assert.Contains(t, p.Body, `<div id="title-error" class="invalid-feedback d-block">`+validate.TitleMessage+`</div>`, "%q", typed)
	}
	_, called := s.api.last("POST", "/api/tickets")
	assert.False(t, called, "a refused title never reaches the API")
}

func TestNewTicketSendsTheSmallestChargeAndATrimmedTitle(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("POST /api/tickets", 201, `{"id":"t1"}`)
	p := s.postWithToken(t, "/tickets/new", "/tickets/new", url.Values{"title": {"  Concert  "}, "price": {" 0.5 "}})
	assert.Equal(t, http.StatusSeeOther, p.Status)
	sent, _ := s.api.last("POST", "/api/tickets")
	assert.JSONEq(t, `{"title":"Concert","price":"0.50"}`, sent.Body)
}

func TestPagesForSignedInUsersSendVisitorsToSignIn(t *testing.T) {
	s := newSite(t)
	for _, path := range []string{"/tickets/new", "/orders", "/orders/o1"} {
		p := s.get(t, path)
		assert.Equal(t, http.StatusSeeOther, p.Status, path)
		assert.Equal(t, "/auth/signin?next="+url.QueryEscape(path), p.Location, path)
	}
}

func TestPurchaseGoesToTheOrderOrShowsTheAPIError(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("GET /api/tickets/t1", 200, `{"id":"t1","title":"Concert","price":20,"userId":"u2","version":0}`)
	show := s.get(t, "/tickets/t1")
	require.Equal(t, 200, show.Status)
	assert.Contains(t, show.Body, `<h1 class="ticket-title">Concert</h1>`)
	assert.Contains(t, show.Body, `Price: <span class="ticket-price">$20.00</span>`)
	assert.Contains(t, show.Body, ">Purchase</button>")

	s.api.json("POST /api/orders", 400, `{"errors":[{"message":"Ticket is already reserved"}]}`)
	p := s.postWithToken(t, "/tickets/t1", "/tickets/t1", url.Values{})
	assert.Equal(t, 400, p.Status)
	assert.Contains(t, p.Body, "<li>Ticket is already reserved</li>")

	s.api.json("POST /api/orders", 201, `{"id":"o9","status":"created"}`)
	p = s.postWithToken(t, "/tickets/t1", "/tickets/t1", url.Values{})
	assert.Equal(t, http.StatusSeeOther, p.Status)
	assert.Equal(t, "/orders/o9", p.Location)
	sent, _ := s.api.last("POST", "/api/orders")
	assert.JSONEq(t, `{"ticketId":"t1"}`, sent.Body)
}

func TestOrderPageShowsTimeLeftAndTheTestModeForm(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	exp := time.Now().Add(61 * time.Second).UTC().Format(time.RFC3339Nano)
	s.api.json("GET /api/orders/o1", 200, `{"id":"o1","status":"created","expiresAt":"`+exp+`","ticket":{"id":"t1","title":"Concert","price":20}}`)
	p := s.get(t, "/orders/o1")
	require.Equal(t, 200, p.Status)
	assert.Regexp(t, `Time left to pay: 1:0[01]<`, p.Body)
	assert.Contains(t, p.Body, "Test mode")
	assert.Contains(t, p.Body, `name="token" value="tok_visa"`)
	assert.NotContains(t, p.Body, "js.stripe.com")

	s.api.json("POST /api/payments", 201, `{"success":true,"id":"p1"}`)
	pay := s.postWithToken(t, "/orders/o1", "/orders/o1/pay", url.Values{"token": {"tok_visa"}})
	assert.Equal(t, http.StatusSeeOther, pay.Status)
	assert.Equal(t, "/orders/o1", pay.Location, "back to the order, which turns complete by itself")
	sent, _ := s.api.last("POST", "/api/payments")
	assert.JSONEq(t, `{"token":"tok_visa","orderId":"o1"}`, sent.Body)
}

func TestOrderPageSaysExpiredOncePast(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	exp := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	s.api.json("GET /api/orders/o1", 200, `{"id":"o1","status":"created","expiresAt":"`+exp+`","ticket":{"id":"t1","title":"Concert","price":20}}`)
	p := s.get(t, "/orders/o1")
	assert.Contains(t, p.Body, `<span class="badge status-expired" id="order-status" data-state="expired" aria-live="polite">Expired</span>`)
	assert.Contains(t, p.Body, `<div class="alert alert-secondary" data-when="expired">This order expired`)
	assert.NotContains(t, p.Body, "/pay")
	assert.NotContains(t, p.Body, "Cancel order")
}

func TestOrderPageUsesStripeElementsWithAPublishableKey(t *testing.T) {
	s := newSite(t, func(c *config) { c.StripeKey = "pk_test_123" })
	s.api.signedInAs("a@b.co")
	exp := time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano)
	s.api.json("GET /api/orders/o1", 200, `{"id":"o1","status":"created","expiresAt":"`+exp+`","ticket":{"id":"t1","title":"Concert","price":20}}`)
	p := s.get(t, "/orders/o1")
	assert.Contains(t, p.Body, `<script src="https://js.stripe.com/v3/"></script>`)
	assert.Contains(t, p.Body, `data-stripe-key="pk_test_123"`)
	assert.NotContains(t, p.Body, "Test mode")
}

func TestMyOrdersListsTitlesAndStatusBadges(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("GET /api/orders", 200, `[{"id":"o1","status":"complete","ticket":{"title":"Concert"}},{"id":"o2","status":"cancelled","ticket":{"title":"Match"}}]`)
	p := s.get(t, "/orders")
	require.Equal(t, 200, p.Status)
	assert.Contains(t, p.Body, "<h1>My Orders</h1>")
	assert.Regexp(t, `Concert</a></td>(?s:.*?)<span class="order-status" aria-live="polite"><span class="badge status-paid" data-state="paid">Paid</span>`, p.Body)
	assert.Regexp(t, `Match</a></td>(?s:.*?)<span class="badge status-cancelled" data-state="cancelled">Cancelled</span>`, p.Body)
}

func TestBackendDownIsAFriendly502Page(t *testing.T) {
	s := newSite(t)
	s.api.Close()
	p := s.get(t, "/")
	assert.Equal(t, http.StatusBadGateway, p.Status)
	assert.Contains(t, p.Body, "Part of GitTix is not answering right now")
	assert.Contains(t, p.Body, "GitTix</a>", "still a full page with the header")
}

func TestSlowBackendIsA503Page(t *testing.T) {
	s := newSite(t, func(c *config) { c.Timeout = 200 * time.Millisecond })
	s.api.handle("GET /api/tickets", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	p := s.get(t, "/")
	assert.Equal(t, http.StatusServiceUnavailable, p.Status)
	assert.Contains(t, p.Body, "Part of GitTix is not answering right now")
}

func TestBackendFailureIsNeverShownRaw(t *testing.T) {
	s := newSite(t)
	s.api.json("GET /api/tickets", 500, `{"errors":[{"message":"Something went wrong"}]}`)
	p := s.get(t, "/")
	assert.Equal(t, http.StatusBadGateway, p.Status)
}

func TestUnknownPagesAndTicketsAre404Pages(t *testing.T) {
	s := newSite(t)
	for _, path := range []string{"/nope", "/tickets/unknown"} {
		p := s.get(t, path)
		assert.Equal(t, 404, p.Status, path)
		assert.Contains(t, p.Body, "Page not found")
	}
}

func TestStylesheetIsServedByTheClient(t *testing.T) {
	s := newSite(t)
	p := s.get(t, "/static/bootstrap-5.3.8.min.css")
	assert.Equal(t, 200, p.Status)
	assert.Contains(t, p.Body, "Bootstrap  v5.3.8")
	assert.Equal(t, 200, s.get(t, "/static/app.js").Status)
	home := s.get(t, "/auth/signin")
	assert.Contains(t, home.Header.Get("Content-Security-Policy"), "default-src 'self'")
}

func TestRunRefusesBadConfig(t *testing.T) {
	err := run(t.Context(), func(k string) string {
		if k == "BACKEND_TIMEOUT" {
			return "never"
		}
		return ""
	}, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "BACKEND_TIMEOUT")
}

var formKeyInput = regexp.MustCompile(`name="idempotency_key" value="([0-9a-f]{32})"`)

func TestEachRenderedFormSendsItsOwnIdempotencyKeySoAResubmitCreatesNothingTwice(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("POST /api/tickets", 201, `{"id":"t1"}`)
	s.api.json("GET /api/tickets/t1", 200, `{"id":"t1","title":"Concert","price":20,"userId":"u2","version":0}`)
	s.api.json("POST /api/orders", 201, `{"id":"o1"}`)
	s.api.json("GET /api/orders/o1", 200, `{"id":"o1","status":"created","expiresAt":"2999-01-01T00:00:00Z","ticket":{"id":"t1","title":"Concert","price":20}}`)
	s.api.json("POST /api/payments", 201, `{"success":true,"id":"p1"}`)

	for _, c := range []struct{ page, action, api string }{
		{"/tickets/new", "/tickets/new", "/api/tickets"},
		{"/tickets/t1", "/tickets/t1", "/api/orders"},
		{"/orders/o1", "/orders/o1/pay", "/api/payments"},
	} {
		first, second := s.get(t, c.page).Body, s.get(t, c.page).Body
		m1, m2 := formKeyInput.FindStringSubmatch(first), formKeyInput.FindStringSubmatch(second)
		require.NotNil(t, m1, "%s has a form key", c.page)
		require.NotNil(t, m2)
		assert.NotEqual(t, m1[1], m2[1], "%s: every render names a new request", c.page)

		form := url.Values{"csrf_token": {csrfFrom(t, first)}, "idempotency_key": {m1[1]}, "title": {"Concert"}, "price": {"20"}}
		for range 2 { // a double click, or the page resubmitted
			s.post(t, c.action, form)
			sent, ok := s.api.last("POST", c.api)
			require.True(t, ok, c.api)
			assert.Equal(t, m1[1], sent.IdempotencyKey, "%s sends the form's key to %s", c.action, c.api)
		}
	}
}

func TestARefundedOrderSaysSoOnItsPageAndInMyOrders(t *testing.T) {
	s := newSite(t)
	s.api.signedInAs("a@b.co")
	s.api.json("GET /api/orders/o1", 200, `{"id":"o1","status":"cancelled","refunded":true,"expiresAt":"2000-01-01T00:00:00Z","ticket":{"id":"t1","title":"Concert","price":20}}`)
	s.api.json("GET /api/orders", 200, `[{"id":"o1","status":"cancelled","refunded":true,"expiresAt":"2000-01-01T00:00:00Z","ticket":{"id":"t1","title":"Concert","price":20}}]`)
	p := s.get(t, "/orders/o1")
	assert.Contains(t, p.Body, `id="order-refunded" data-when="refunded">`, "shown, not hidden")
	assert.Contains(t, p.Body, "you were <strong>refunded</strong> in full")
	assert.Contains(t, s.get(t, "/orders").Body, `<span class="badge status-refunded" data-state="refunded">Refunded</span>`)
}
