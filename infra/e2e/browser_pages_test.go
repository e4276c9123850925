package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sell lists a ticket through the sell form and waits for the new
// ticket's page, where its seller lands; it returns the page's path.
func (p *person) sell(title, price string) string {
	p.t.Helper()
	p.do(
		chromedp.Navigate(p.base+"/tickets/new"),
		chromedp.WaitVisible(chromedp.CSS("#title")),
		chromedp.SendKeys(chromedp.CSS("#title"), title),
		chromedp.SendKeys(chromedp.CSS("#price"), price),
		chromedp.Submit(chromedp.CSS("#title")),
		chromedp.WaitVisible(chromedp.CSS("#ticket")),
		chromedp.WaitVisible(chromedp.CSS("#flash")),
	)
	path := p.location()
	require.Regexp(p.t, `^/tickets/[0-9a-f]{24}$`, path, "%s lands on the new ticket", p.name)
	return path
}

// noHorizontalScroll asserts the page is no wider than the window.
func (p *person) noHorizontalScroll(what string) {
	p.t.Helper()
	wide, err := chromedp.Run(p.ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`))
	require.NoError(p.t, err)
	assert.LessOrEqual(p.t, wide[0], wide[1], "%s: the page is %d px wide in a %d px window", what, wide[0], wide[1])
}

func TestBrowserOrderExpiresAndCancelsLiveWithoutReload(t *testing.T) {
	const window = 8 * time.Second
	s, _ := startStack(t, t.TempDir(), map[string]string{"EXPIRATION_WINDOW": window.String()})
	base := s.URL()
	a := newPerson(t, base, "seller")
	a.signUp(uniqueEmail("seller"))
	a.sell("Expiring Gig", "10")
	a.sell("Cancelled Gig", "11")

	b := newPersonAt(t, base, "buyer", 390, 844)
	b.signUp(uniqueEmail("buyer"))
	buy := func(title string) string {
		b.do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.Search(rowOf(title))),
			chromedp.Click(chromedp.Search(rowOf(title)+`//a[text()="View"]`)),
			chromedp.WaitVisible(chromedp.CSS("#purchase button")),
			chromedp.Click(chromedp.CSS("#purchase button")),
			chromedp.WaitVisible(chromedp.CSS("#countdown")))
		return b.location()
	}

	// The countdown runs out, then the order says Expired by itself.
	buy("Expiring Gig")
	b.waitLive()
	assert.Regexp(t, `^Time left to pay: 0:0\d$`, b.text("#countdown"))
	b.screenshot("phone-order")
	b.publish("phone-order")
	b.do(chromedp.WaitVisible(chromedp.Search(`//span[@id="order-status"][text()="Expired"]`)))
	assert.Contains(t, b.text(`[data-when="expired"]`), "This order expired")
	assert.Empty(t, b.count(`form[action$="/pay"]`), "nothing left to pay")

	// Cancel: a confirmation page, then the order says so.
	order := buy("Cancelled Gig")
	b.do(chromedp.Click(chromedp.CSS("#cancel-order")), chromedp.WaitVisible(chromedp.CSS("#confirm-cancel")))
	assert.Equal(t, "Cancel this order?", b.text("h1"))
	b.dropFlash()
	b.do(chromedp.Click(chromedp.CSS("#confirm-cancel")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	assert.Equal(t, order, b.location())
	assert.Contains(t, b.text("#flash"), "Your order is cancelled")
	assert.Equal(t, "Cancelled", b.text("#order-status"))
	assert.Contains(t, b.text(`[data-when="cancelled"]`), "You cancelled this order")
	b.noHorizontalScroll("order page")
}

func (p *person) count(sel string) []int {
	p.t.Helper()
	n, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
	require.NoError(p.t, err)
	if n == 0 {
		return nil
	}
	return []int{n}
}

func TestBrowserPhoneFitsA200CharacterTitleWithoutHorizontalScroll(t *testing.T) {
	s := sharedStack(t)
	base := s.URL()
	long := strings.Repeat("W", 200)
	a := newPersonAt(t, base, "phone-seller", 390, 844)
	a.signUp(uniqueEmail("phone-seller"))
	a.sell(long, "1000000")
	a.noHorizontalScroll("ticket page")
	a.do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#tickets tbody tr[data-ticket-id]")))
	a.noHorizontalScroll("landing page")
	a.screenshot("phone-landing")
	for _, width := range []int64{320, 1440} { // the narrowest phone, a wide desktop
		a.do(chromedp.EmulateViewport(width, 844))
		a.noHorizontalScroll(fmt.Sprintf("landing page at %d px", width))
	}
	a.do(chromedp.EmulateViewport(390, 844))
	a.do(chromedp.Navigate(base+"/tickets/mine"), chromedp.WaitVisible(chromedp.CSS("#my-listings")))
	a.noHorizontalScroll("my listings")
	a.do(chromedp.Click(chromedp.CSS("td.ticket-title a")), chromedp.WaitVisible(chromedp.CSS("#own-listing")))
	a.noHorizontalScroll("ticket page")
	a.screenshot("phone-ticket")
}

func TestBrowserMyListingsEditAndReturnToAfterSignIn(t *testing.T) {
	s := sharedStack(t)
	base := s.URL()
	title := fmt.Sprintf("Editable Gig %d", time.Now().UnixNano()%100000)
	email := uniqueEmail("editor")
	a := newPerson(t, base, "editor")
	a.signUp(email)
	a.sell(title, "20")
	a.do(chromedp.Navigate(base+"/tickets/mine"), chromedp.WaitVisible(chromedp.Search(rowOf(title))),
		chromedp.Click(chromedp.Search(rowOf(title)+`//a[text()="Edit"]`)), chromedp.WaitVisible(chromedp.CSS("#price")),
		emptyField("#price"), chromedp.SendKeys(chromedp.CSS("#price"), "1234.5"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("#flash")))
	assert.Equal(t, "/tickets/mine", a.location())
	assert.Equal(t, "Your listing is updated.", a.text("#flash"))
	row, err := chromedp.Run(a.ctx, chromedp.Text(chromedp.Search(rowOf(title))))
	require.NoError(t, err)
	assert.Contains(t, row, "$1,234.50")
	a.screenshot("my-listings")

	// A visitor's Purchase goes to sign-in and back to the ticket.
	v := newPerson(t, base, "visitor")
	v.do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.Search(rowOf(title))),
		chromedp.Click(chromedp.Search(rowOf(title)+`//a[text()="View"]`)), chromedp.WaitVisible(chromedp.CSS("#purchase button")))
	ticket := v.location()
	v.do(chromedp.Click(chromedp.CSS("#purchase button")), chromedp.WaitVisible(chromedp.CSS("#email")))
	assert.Equal(t, "/auth/signin?next="+strings.ReplaceAll(ticket, "/", "%2F"), v.location())
	v.do(chromedp.SendKeys(chromedp.CSS("#email"), email), chromedp.SendKeys(chromedp.CSS("#password"), "password1"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("#own-listing")))
	assert.Equal(t, ticket, v.location(), "back where sign-in was asked for")
	assert.Equal(t, email, v.text("#signed-in-as"))
}

func TestBrowserJourneyWithoutJavaScript(t *testing.T) {
	s := sharedStack(t)
	base := s.URL()
	title := fmt.Sprintf("No Script Gig %d", time.Now().UnixNano()%100000)
	a := newPersonAt(t, base, "seller", 1280, 900, noScript)
	a.signUp(uniqueEmail("noscript-seller"))
	a.sell(title, "15.00")
	assert.Equal(t, "Your ticket is listed.", a.text("#flash"))

	b := newPersonAt(t, base, "buyer", 390, 844, noScript)
	b.signUp(uniqueEmail("noscript-buyer"))
	b.do(chromedp.WaitVisible(chromedp.Search(rowOf(title))),
		chromedp.Click(chromedp.Search(rowOf(title)+`//a[text()="View"]`)), chromedp.WaitVisible(chromedp.CSS("#purchase button")),
		chromedp.Click(chromedp.CSS("#purchase button")), chromedp.WaitVisible(chromedp.CSS("#countdown")))
	order := b.location()
	shown := b.text("#countdown")
	assert.Regexp(t, `^Time left to pay: \d+:\d\d$`, shown, "rendered by the server")
	time.Sleep(1100 * time.Millisecond)
	assert.Equal(t, shown, b.text("#countdown"), "no script runs: the countdown stands still")
	assert.Empty(t, b.count(`body[data-live-open]`), "no live stream either")
	b.payWithTestCard()
	assert.Equal(t, order, b.location())
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		if chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#order-status"))) != nil {
			return false
		}
		status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#order-status")))
		return err == nil && status == "Paid"
	}, 20*time.Second, 500*time.Millisecond, "a reload shows the order paid")
	b.screenshot("phone-order-complete-noscript")
	b.noHorizontalScroll("order page without script")
}
