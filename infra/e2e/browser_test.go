package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromiumPath is Debian's chromium, which `make test` installs.
const chromiumPath = "/usr/bin/chromium"

// person is one user in their own browser (own process and profile, so
// their own cookies).
type person struct {
	t    *testing.T
	ctx  context.Context
	base string
	name string
}

func newPerson(t *testing.T, base, name string) *person {
	t.Helper()
	return newPersonAt(t, base, name, 1280, 900)
}

// noScript makes a person's browser run no page JavaScript at all.
var noScript = chromedp.Flag("blink-settings", "scriptEnabled=false")

// newPersonAt is a person whose browser window is width × height (390 ×
// 844 is a phone).
func newPersonAt(t *testing.T, base, name string, width, height int, opts ...chromedp.ExecAllocatorOption) *person {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		t.Fatalf("%s is missing: `make test` installs it (apt-get install chromium)", chromiumPath)
	}
	options := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	}, opts...)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), options...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first Run starts the browser; it must not carry a timeout.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
	// Headless windows are at least 500 px wide: a phone's width is emulated.
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))))
	return &person{t: t, ctx: ctx, base: base, name: name}
}

// do runs steps with a deadline, failing the test on error.
func (p *person) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	require.NoError(p.t, chromedp.Do(ctx, steps...), p.name)
}

// text is the visible text of the first element matching sel ("" when it
// is not shown), once there is one. It is read by an expression of the
// test's (which runs with the page's own scripts off, too), not through a
// node id: those go stale when Chromium renews its DOM tree as a page loads.
func (p *person) text(sel string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	require.NoError(p.t, chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS(sel))), "%s: waiting for %s", p.name, sel)
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(() => {
		const e = document.querySelector(%q);
		return e && (e.offsetWidth || e.offsetHeight || e.getClientRects().length) ? e.innerText : "";
	})()`, sel)))
	require.NoError(p.t, err, "%s: text of %s", p.name, sel)
	return s
}

func (p *person) location() string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(p.t, err)
	return strings.TrimPrefix(loc, p.base)
}

// screenshot saves the page to artifacts/<name>.png (gitignored).
func (p *person) screenshot(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 means PNG
	require.NoError(p.t, err)
	dir := filepath.Join(repoRoot(p.t), "artifacts")
	require.NoError(p.t, os.MkdirAll(dir, 0o755))
	require.NoError(p.t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

func (p *person) signUp(email string) {
	p.t.Helper()
	p.do(
		chromedp.Navigate(p.base+"/auth/signup"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), "password1"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		// The header's links are in a menu on phones (closed) and in the
		// bar on wider screens: what marks a signed-in page at any width is
		// the body's user and the welcome.
		chromedp.WaitReady(chromedp.CSS(`body[data-user-id]`)),
		chromedp.WaitVisible(chromedp.CSS("#flash")),
	)
	assert.Equal(p.t, "/", p.location())
}

// rowOf is the table row of the ticket titled title on the landing page.
func rowOf(title string) string {
	return fmt.Sprintf(`//tr[td[normalize-space()=%q]]`, title)
}

func TestBrowserJourneyUpdatesLiveFromListingToSold(t *testing.T) {
	s := sharedStack(t)
	base := s.URL()
	title := fmt.Sprintf("Browser Gig %d", time.Now().UnixNano()%100000)

	// B waits on the landing page; C, signed out, will watch the ticket.
	b := newPerson(t, base, "buyer")
	b.signUp(uniqueEmail("buyer"))
	b.waitLive()

	// A sells a ticket and sees it available, with a confirmation.
	a := newPerson(t, base, "seller")
	a.signUp(uniqueEmail("seller"))
	assert.Equal(t, "Welcome! Your account is ready.", a.text("#flash"))
	a.do(
		chromedp.Navigate(base+"/tickets/new"),
		chromedp.WaitVisible(chromedp.CSS("#title")),
		chromedp.SendKeys(chromedp.CSS("#title"), title),
		chromedp.SendKeys(chromedp.CSS("#price"), "1000000"),
		chromedp.Click(chromedp.CSS("#title")), // leaving the field normalises the price
	)
	price, err := chromedp.Run(a.ctx, chromedp.Evaluate[string](`document.getElementById('price').value`))
	require.NoError(t, err)
	assert.Equal(t, "1000000.00", price)
	a.screenshot("sell-ticket")
	a.do(
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#ticket")),
	)
	assert.Regexp(t, `^/tickets/[0-9a-f]{24}$`, a.location(), "the seller lands on the new ticket")
	assert.Equal(t, "Your ticket is listed.", a.text("#flash"))
	assert.Equal(t, "Available", a.text("#ticket-status"))
	a.do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.Search(rowOf(title))))
	assert.Equal(t, "Available", badgeOf(t, a, title))
	a.waitLive()

	// The listing appears on B's open page by itself, at $1,000,000.00.
	b.do(chromedp.WaitVisible(chromedp.Search(rowOf(title))))
	assert.Equal(t, "Available", badgeOf(t, b, title))
	row, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.Search(rowOf(title))))
	require.NoError(t, err)
	assert.Contains(t, row, "$1,000,000.00")
	b.screenshot("landing")

	b.do(chromedp.Click(chromedp.Search(rowOf(title)+`//a[text()="View"]`)), chromedp.WaitVisible(chromedp.CSS("#purchase button")))
	ticketPath := b.location()
	c := newPerson(t, base, "visitor")
	c.do(chromedp.Navigate(base+ticketPath), chromedp.WaitVisible(chromedp.CSS("#purchase button")))
	c.waitLive()

	// B buys it; C's Purchase button goes, A's row says reserved.
	b.do(
		chromedp.Click(chromedp.Search(`//button[text()="Purchase"]`)),
		chromedp.WaitVisible(chromedp.CSS("#countdown")),
	)
	assert.Regexp(t, `^/orders/[0-9a-f]{24}$`, b.location())
	orderPath := b.location()
	assert.Regexp(t, regexp.MustCompile(`^Time left to pay: \d+:\d\d$`), b.text("#countdown"))
	first := b.text("#countdown")
	time.Sleep(1100 * time.Millisecond)
	assert.NotEqual(t, first, b.text("#countdown"), "the countdown counts down")
	b.screenshot("order")
	b.publish("desktop-order")
	c.do(chromedp.WaitNotVisible(chromedp.CSS("#purchase")))
	assert.Equal(t, "Reserved", c.text("#ticket-status"))
	assert.Equal(t, "This ticket is not available right now.", c.text("#unavailable"))
	c.screenshot("ticket-reserved-live")
	a.waitBadge(title, "Reserved")

	// The seller's own ticket page says so and offers no Purchase; B's
	// order is not A's to see.
	a.do(chromedp.Navigate(base+orderPath), chromedp.WaitVisible(chromedp.CSS("h1")))
	assert.Equal(t, "Page not found", a.text("h1"), "someone else's order")
	a.do(chromedp.Navigate(base+ticketPath), chromedp.WaitVisible(chromedp.CSS("#own-listing")))
	assert.Contains(t, a.text("#own-listing"), "This is your listing.")
	// The landing page lists available tickets only: A follows the sale
	// on My Listings, which lists every state.
	a.do(chromedp.Navigate(base+"/tickets/mine"), chromedp.WaitVisible(chromedp.Search(rowOf(title))))
	assert.Equal(t, "Reserved", badgeOf(t, a, title))
	a.waitLive()

	// B pays; the order page turns Paid by itself, A's row Sold.
	b.payWithTestCard()
	assert.Equal(t, orderPath, b.location())
	b.waitLive()
	b.do(chromedp.WaitVisible(chromedp.Search(`//span[@id="order-status"][text()="Paid"]`)))
	assert.Equal(t, orderPath, b.location(), "no reload, no navigation")
	assert.Equal(t, "Paid. Enjoy the show!", b.text(`[data-when="paid"]`))
	b.screenshot("order-complete")
	a.waitBadge(title, "Sold")
	a.screenshot("my-listings-sold")

	b.do(chromedp.Navigate(base+"/orders"), chromedp.WaitVisible(chromedp.CSS("#orders")))
	assert.Contains(t, b.text("#orders"), title)
	assert.Contains(t, b.text("#orders"), "Paid")
	b.screenshot("my-orders")

	// Signing out is a button on the sign-out page (a POST), then the
	// signed-out header and a confirmation.
	a.do(chromedp.Navigate(base+"/auth/signout"), chromedp.WaitVisible(chromedp.CSS("#signout")))
	a.dropFlash()
	a.do(chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	assert.Equal(t, "You are signed out.", a.text("#flash"))
	assert.Empty(t, a.count(`body[data-user-id]`), "the page is a signed-out one")
	assert.Equal(t, "Sign In", a.text(`.d-md-flex a[href="/auth/signin"]`))
}

// payWithTestCard pays for the open order with the test-mode form and
// waits for the order's page again: it says "Payment received" (the flash)
// while orders has not taken the payment yet, and only Paid once it has.
func (p *person) payWithTestCard() {
	p.t.Helper()
	p.dropFlash()
	p.do(
		chromedp.Click(chromedp.Search(`//button[starts-with(normalize-space(), "Pay with test card")]`)),
		chromedp.WaitVisible(chromedp.CSS(`#flash, [data-when="paid"]:not([hidden])`)),
	)
	// One or the other, read at once: the live update that shows Paid
	// removes the flash, so a flash seen a moment ago may be gone now.
	raw, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`JSON.stringify({
		flash: document.querySelector('#flash')?.innerText ?? "",
		status: document.querySelector('#order-status')?.innerText ?? ""})`))
	require.NoError(p.t, err, p.name)
	var seen struct{ Flash, Status string }
	require.NoError(p.t, json.Unmarshal([]byte(raw), &seen), p.name)
	if seen.Flash != "" {
		assert.Contains(p.t, seen.Flash, "Payment received.", p.name)
	} else {
		assert.Equal(p.t, "Paid", seen.Status, p.name)
	}
}

// dropFlash removes the page's flash message, so that waiting for the
// next page's cannot be satisfied by this one's.
func (p *person) dropFlash() {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`document.querySelectorAll('#flash').forEach(e => e.remove()) || true`))
	require.NoError(p.t, err)
}

// waitLive waits until the page's live stream is open, so that what
// follows cannot happen before the page listens.
func (p *person) waitLive() {
	p.t.Helper()
	p.do(chromedp.WaitVisible(chromedp.CSS(`body[data-live-open="true"]`)))
}

// waitBadge waits, without reloading, until title's row on the open
// landing page shows status.
func (p *person) waitBadge(title, status string) {
	p.t.Helper()
	p.do(chromedp.WaitVisible(chromedp.Search(rowOf(title) + fmt.Sprintf(`//span[contains(@class,"badge")][text()=%q]`, status))))
}

// priceMessage is what the sell form says about a price it cannot charge.
const priceMessage = "Price must be a number from 0.50 to 1000000 with at most 2 decimals, like 20 or 20.50"

func TestBrowserSellFormRefusesPricesItCannotChargeAsTypedAndSellsAt50Cents(t *testing.T) {
	s := sharedStack(t)
	base := s.URL()
	title := fmt.Sprintf("Cheap Gig %d", time.Now().UnixNano()%100000)
	a := newPerson(t, base, "seller")
	a.signUp(uniqueEmail("cheap-seller"))
	a.do(
		chromedp.Navigate(base+"/tickets/new"),
		chromedp.WaitVisible(chromedp.CSS("#title")),
		chromedp.SendKeys(chromedp.CSS("#title"), title),
	)
	typeAndSubmit := func(typed string) {
		a.do(
			emptyField("#price"),
			chromedp.SendKeys(chromedp.CSS("#price"), typed),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		)
	}

	// What is not a plain amount the browser holds back (the field's
	// pattern): the form is not sent, the page stays, the price as typed.
	for _, typed := range []string{"1,000", "12,50", "$5"} {
		_, err := chromedp.Run(a.ctx, chromedp.Evaluate[bool](`(() => {
			window.samePage = true;
			window.held = false;
			document.getElementById('price').addEventListener('invalid', () => { window.held = true; }, { once: true });
			return true;
		})()`))
		require.NoError(t, err)
		typeAndSubmit(typed)
		a.do(chromedp.Poll[chromedp.Void](`window.held === true`, chromedp.WithPollingTimeout(10*time.Second)))
		held, err := chromedp.Run(a.ctx, chromedp.Evaluate[bool](`window.samePage === true && document.getElementById('price').validity.patternMismatch`))
		require.NoError(t, err)
		assert.True(t, held, "%s: the browser keeps the form, for its pattern", typed)
		assert.Equal(t, typed, a.value("#price"), "the price is kept as typed, never reinterpreted")
		assert.Equal(t, "/tickets/new", a.location())
	}

	// The server refuses them too, as typed, beside the field: sent past
	// the browser's check (novalidate), and 0.49, which the pattern lets by.
	for _, typed := range []string{"1,000", "$5", "0.49"} {
		_, err := chromedp.Run(a.ctx, chromedp.Evaluate[bool](`(() => {
			document.querySelectorAll('#price-error').forEach(e => e.remove());
			document.querySelector('form[action="/tickets/new"]').noValidate = true;
			return true;
		})()`))
		require.NoError(t, err)
		typeAndSubmit(typed)
		a.do(chromedp.WaitVisible(chromedp.CSS("#price-error")))
		assert.Equal(t, priceMessage, a.text("#price-error"), typed)
		assert.Equal(t, "true", a.attr("#price", "aria-invalid"), typed)
		assert.Contains(t, a.attr("#price", "aria-describedby"), "price-error", typed)
		assert.Empty(t, a.count(".alert-danger"), "%s: the message is beside the field, not in a box", typed)
		assert.Equal(t, typed, a.value("#price"), "the price is kept as typed, never reinterpreted")
		assert.Equal(t, title, a.value("#title"), "the title is kept")
		assert.Equal(t, "/tickets/new", a.location())
	}
	a.screenshot("sell-refused-price")

	a.do(
		emptyField("#price"),
		chromedp.SendKeys(chromedp.CSS("#price"), "0.5"),
		chromedp.Click(chromedp.CSS("#title")), // leaving the field pads the amount
	)
	assert.Equal(t, "0.50", a.value("#price"))
	a.do(
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#ticket")),
	)
	assert.Regexp(t, `^/tickets/[0-9a-f]{24}$`, a.location())
	assert.Equal(t, "$0.50", a.text("#ticket .ticket-price"))
	assert.Equal(t, "Available", a.text("#ticket-status"))
}

// emptyField empties the input sel as a user would, what they typed too:
// chromedp.Clear empties its value attribute only, which a typed value
// outlives.
func emptyField(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = ""`, sel))
}

// value is the current value of the form control sel.
func (p *person) value(sel string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).value`, sel)))
	require.NoError(p.t, err, "%s: value of %s", p.name, sel)
	return v
}

// attr is the value of attribute name of the first element matching sel
// ("" when it has none).
func (p *person) attr(sel, name string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).getAttribute(%q) || ""`, sel, name)))
	require.NoError(p.t, err)
	return v
}

// badgeOf is the status badge of title's row on the landing page. CSS
// cannot match on text, so the row is found by XPath and marked first.
func badgeOf(t *testing.T, p *person, title string) string {
	t.Helper()
	found, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
		document.querySelectorAll('[data-probe]').forEach(e => e.removeAttribute('data-probe'));
		const row = document.evaluate(%q, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
		if (row) row.setAttribute('data-probe', '1');
		return !!row;
	})()`, rowOf(title))))
	require.NoError(t, err)
	require.True(t, found, "no row for %q", title)
	return p.text(`tr[data-probe] .badge`)
}
