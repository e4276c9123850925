package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The marketplace in a browser: search and filters (with and without
// JavaScript), a long title's layout, where a seller lands, My Orders live.

// listed lists a ticket through the API as seller and returns its id: a
// quicker way than the sell form to fill the catalogue.
func listed(t *testing.T, seller *browser, title, price string) string {
	t.Helper()
	r := seller.do("POST", "/api/tickets", map[string]any{"title": title, "price": price})
	require.Equal(t, 201, r.Status, r.Raw)
	return r.Body["id"].(string)
}

// tag is a word no other ticket of the shared stack has: a search for it
// finds this test's tickets only, however often the test runs.
func tag(prefix string) string {
	return fmt.Sprintf("%s%05d", prefix, time.Now().UnixNano()/1000%100000)
}

// listRow is a row of a ticket list as the page shows it.
type listRow struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Price  string `json:"price"`
	Status string `json:"status"`
}

// rows are the ticket rows of the list table, top to bottom.
func (p *person) rows(table string) []listRow {
	p.t.Helper()
	rows, err := chromedp.Run(p.ctx, chromedp.Evaluate[[]listRow](fmt.Sprintf(`Array.from(document.querySelectorAll('%s tbody tr[data-ticket-id]')).map(r => ({
		id: r.dataset.ticketId,
		title: r.querySelector('.ticket-title').innerText.trim(),
		price: r.querySelector('.ticket-price').innerText.trim(),
		status: (r.querySelector('.ticket-status .badge') || {}).innerText || '',
	}))`, table)))
	require.NoError(p.t, err)
	return rows
}

func column(rows []listRow, pick func(listRow) string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = pick(r)
	}
	return out
}

// choose sets the select sel to value, as picking it would (the page's
// own script, if any, plays no part in a GET form).
func choose(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = %q`, sel, value))
}

// query is the current page's URL parameters.
func (p *person) query() url.Values {
	p.t.Helper()
	u, err := url.Parse(p.location())
	require.NoError(p.t, err)
	return u.Query()
}

// publish saves the window as docs/screenshots/<name>.png when SCREENSHOTS
// names the folder (relative to the repository), so that the README's
// pictures are remade on purpose, not by every test run:
//
//	SCREENSHOTS=docs/screenshots go test -count=1 -run 'TestBrowser' ./infra/e2e/
func (p *person) publish(name string) {
	p.t.Helper()
	dir := os.Getenv("SCREENSHOTS")
	if dir == "" {
		return
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(repoRoot(p.t), dir)
	}
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 means PNG
	require.NoError(p.t, err)
	require.NoError(p.t, os.MkdirAll(dir, 0o755))
	require.NoError(p.t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

func TestBrowserSearchFilterAndBuyFromTheResults(t *testing.T) {
	s := sharedStack(t)
	base := s.URL()
	tour := tag("")
	seller := signedUp(t, base, "jazz-seller")
	brunch := "Jázz Brunch Matinée, Tour " + tour // accents: "jazz" finds it
	night := "Late Night Jazz, Tour " + tour
	brunchID := listed(t, seller, brunch, "12.50")
	nightID := listed(t, seller, night, "30")
	listed(t, seller, "Jazz Gala, Tour "+tour, "80")       // dearer than the most asked
	listed(t, seller, "Rock Night, Tour "+tour, "10")      // no jazz
	listed(t, seller, "Pizzajazz Party, Tour "+tour, "20") // jazz, but not where a word begins

	b := newPerson(t, base, "buyer")
	b.signUp(uniqueEmail("jazz-buyer"))
	q := "jazz " + tour
	b.do(
		chromedp.SendKeys(chromedp.CSS("#q"), q),
		chromedp.SendKeys(chromedp.CSS("#maxPrice"), "50"),
		choose("#sort", "price"),
		chromedp.Click(chromedp.CSS(`#filters button[type="submit"]`)),
		// The answer's search box holds the words (the page before had none).
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#q[value=%q]`, q))),
	)
	asked := b.query()
	assert.Equal(t, q, asked.Get("q"))
	assert.Equal(t, "50", asked.Get("maxPrice"))
	assert.Equal(t, "price", asked.Get("sort"))
	assert.Equal(t, "available", asked.Get("status"), "the form's default: what is for sale")

	rows := b.rows("#tickets")
	assert.Equal(t, []string{brunch, night}, column(rows, func(r listRow) string { return r.Title }), "jazz at most $50, cheapest first")
	assert.Equal(t, []string{"$12.50", "$30.00"}, column(rows, func(r listRow) string { return r.Price }))
	assert.Equal(t, []string{"Available", "Available"}, column(rows, func(r listRow) string { return r.Status }))
	assert.Equal(t, []string{brunchID, nightID}, column(rows, func(r listRow) string { return r.ID }))
	assert.Equal(t, "50", b.value("#maxPrice"), "the form shows what was asked")
	assert.Equal(t, "price", b.value("#sort"))
	b.publish("desktop-landing")
	b.do(chromedp.EmulateViewport(390, 844))
	b.noHorizontalScroll("search results on a phone")
	b.publish("phone-landing")
	b.do(chromedp.EmulateViewport(1280, 900))

	// From the results to the ticket, then order and pay as anyone would.
	b.do(
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-ticket-id=%q] a`, nightID))),
		chromedp.WaitVisible(chromedp.CSS("#purchase button")),
	)
	assert.Equal(t, "/tickets/"+nightID, b.location())
	assert.Equal(t, night, b.text("h1"))
	b.do(chromedp.Click(chromedp.CSS("#purchase button")), chromedp.WaitVisible(chromedp.CSS("#countdown")))
	assert.Regexp(t, `^/orders/[0-9a-f]{24}$`, b.location())
	b.payWithTestCard()
	b.waitLive()
	b.do(chromedp.WaitVisible(chromedp.Search(`//span[@id="order-status"][text()="Paid"]`)))

	// The same search no longer offers it.
	results := base + "/?" + asked.Encode()
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		if chromedp.Do(ctx, chromedp.Navigate(results), chromedp.WaitVisible(chromedp.CSS("#tickets"))) != nil {
			return false
		}
		ids, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#tickets tr[data-ticket-id]'), r => r.dataset.ticketId)`))
		return err == nil && assert.ObjectsAreEqual([]string{brunchID}, ids)
	}, 10*time.Second, 200*time.Millisecond, "the sold ticket leaves the results")
}

// lineMeasure is how an element sits on the page: the lines its text
// takes, its height against its line height (padding and border left
// out), and how far right it reaches.
type lineMeasure struct {
	What       string  `json:"what"`
	Lines      int     `json:"lines"`
	Height     float64 `json:"height"`
	LineHeight float64 `json:"lineHeight"`
	Cell       bool    `json:"cell"`
	Right      float64 `json:"right"`
	Width      float64 `json:"width"`
}

// measureJS measures each shown element matching a selector. Lines are
// counted from the boxes of its text: a box that starts below the bottom
// of the line before begins a new line.
const measureJS = `(sel) => Array.from(document.querySelectorAll(sel))
  .filter((el) => el.offsetWidth || el.offsetHeight || el.getClientRects().length)
  .map((el) => {
    const boxes = [];
    const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      if (!n.nodeValue.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(n);
      for (const r of range.getClientRects()) if (r.width > 0 && r.height > 0) boxes.push(r);
    }
    boxes.sort((a, b) => a.top - b.top);
    let lines = 0, bottom = -Infinity;
    for (const r of boxes) {
      if (r.top >= bottom - 1) { lines++; bottom = r.bottom; } else bottom = Math.max(bottom, r.bottom);
    }
    const cs = getComputedStyle(el);
    const px = (v) => parseFloat(v) || 0;
    const box = el.getBoundingClientRect();
    return {
      what: el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).trim().split(/\s+/).join('.') : '') + ' "' + el.innerText.trim().slice(0, 30) + '"',
      lines,
      height: box.height - px(cs.paddingTop) - px(cs.paddingBottom) - px(cs.borderTopWidth) - px(cs.borderBottomWidth),
      lineHeight: cs.lineHeight === 'normal' ? 1.2 * px(cs.fontSize) : px(cs.lineHeight),
      cell: cs.display === 'table-cell',
      right: box.right,
      width: document.documentElement.clientWidth,
    };
  })`

// measure measures what sel matches on the open page.
func (p *person) measure(sel string) []lineMeasure {
	p.t.Helper()
	m, err := chromedp.Run(p.ctx, chromedp.Evaluate[[]lineMeasure](fmt.Sprintf(`(%s)(%q)`, measureJS, sel)))
	require.NoError(p.t, err)
	return m
}

// oneLine asserts that each element sel matches (at least min of them)
// stays on one line within the window: one line of text and, unless it is
// a table cell (as tall as its row), no taller than one line.
func (p *person) oneLine(where, sel string, min int) {
	p.t.Helper()
	ms := p.measure(sel)
	assert.GreaterOrEqual(p.t, len(ms), min, "%s: %s", where, sel)
	for _, m := range ms {
		assert.Equal(p.t, 1, m.Lines, "%s: %s takes %d lines", where, m.What, m.Lines)
		if !m.Cell {
			assert.Less(p.t, m.Height, 1.5*m.LineHeight, "%s: %s is %.0f px tall, its line %.0f px", where, m.What, m.Height, m.LineHeight)
		}
		assert.LessOrEqual(p.t, m.Right, m.Width+0.5, "%s: %s reaches past the window", where, m.What)
	}
}

// selectsFit asserts that every choice of every select on the page can be
// read whole in its box: a select clips a label wider than its box, with
// no ellipsis.
func (p *person) selectsFit(where string) {
	p.t.Helper()
	clipped, err := chromedp.Run(p.ctx, chromedp.Evaluate[[]string](`(() => {
		const out = [];
		const ctx = document.createElement('canvas').getContext('2d');
		for (const sel of document.querySelectorAll('main select')) {
			const cs = getComputedStyle(sel);
			ctx.font = cs.font;
			const room = sel.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
			for (const o of sel.options) {
				const need = ctx.measureText(o.text).width;
				if (need > room) out.push('#' + sel.id + ' "' + o.text + '" needs ' + Math.ceil(need) + ' px of ' + Math.floor(room));
			}
		}
		return out;
	})()`))
	require.NoError(p.t, err)
	assert.Empty(p.t, clipped, "%s: select labels cut off", where)
}

// wraps asserts that the title sel takes several lines: the long title
// wraps instead of pushing the rest aside.
func (p *person) wraps(where, sel string) {
	p.t.Helper()
	for _, m := range p.measure(sel) {
		assert.Greater(p.t, m.Lines, 1, "%s: %s", where, m.What)
	}
}

// fill repeats unit after prefix to exactly n characters, ending on no
// space (which the API would trim).
func fill(prefix, unit string, n int) string {
	s := prefix
	for len(s) < n {
		s += unit
	}
	s = s[:n]
	if strings.HasSuffix(s, " ") {
		s = s[:n-1] + "s"
	}
	return s
}

func TestBrowserA200CharacterTitleLeavesPricesStatusesAndButtonsOnOneLine(t *testing.T) {
	s := sharedStack(t)
	base := s.URL()
	word := tag("Long")
	seller := signedUp(t, base, "long-seller")
	unbroken := fill(word, "W", 200)            // one 200-character word
	spaced := fill(word+" ", "Wonderful ", 200) // 200 characters of words
	require.Len(t, unbroken, 200)
	require.Len(t, spaced, 200)
	ids := []string{listed(t, seller, unbroken, "1000000"), listed(t, seller, spaced, "999999.99")}

	b := newPerson(t, base, "buyer")
	b.signUp(uniqueEmail("long-buyer"))
	for _, width := range []int64{1280, 390} {
		where := fmt.Sprintf("tickets at %d px", width)
		b.do(chromedp.EmulateViewport(width, 900),
			chromedp.Navigate(base+"/?q="+url.QueryEscape(word)),
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`tr[data-ticket-id=%q]`, ids[1]))))
		require.Len(t, b.rows("#tickets"), 2, where)
		b.wraps(where, "#tickets td.ticket-title")
		b.oneLine(where, "#tickets .ticket-price", 2)
		b.oneLine(where, "#tickets .ticket-status .badge", 2)
		b.oneLine(where, "#tickets td.nowrap a", 2) // View
		b.oneLine(where, "main .btn, main button", 2)
		b.noHorizontalScroll(where)
		if width == 1280 {
			b.publish("desktop-long-title")
		}
		for i, id := range ids {
			where := fmt.Sprintf("ticket %d at %d px", i, width)
			b.do(chromedp.Navigate(base+"/tickets/"+id), chromedp.WaitVisible(chromedp.CSS("#purchase button")))
			b.wraps(where, "#ticket h1")
			b.oneLine(where, "#ticket .ticket-price", 1)
			b.oneLine(where, "#ticket .badge", 1)
			b.oneLine(where, "#ticket .btn, #ticket button", 1) // Purchase
			b.noHorizontalScroll(where)
		}
	}
}

func TestBrowserSellerLandsOnTheNewTicketWhichLeadsTheNewestFirstList(t *testing.T) {
	s := sharedStack(t)
	base := s.URL()
	title := fmt.Sprintf("Fresh Listing %s", tag(""))
	a := newPerson(t, base, "seller")
	a.signUp(uniqueEmail("fresh-seller"))
	path := a.sell(title, "42")
	id := strings.TrimPrefix(path, "/tickets/")
	assert.Equal(t, "Your ticket is listed.", a.text("#flash"))
	assert.Equal(t, title, a.text("h1"))
	assert.Equal(t, "$42.00", a.text("#ticket .ticket-price"))
	assert.Equal(t, "Available", a.text("#ticket-status"))
	assert.Contains(t, a.text("#own-listing"), "This is your listing.")
	assert.Equal(t, "Edit", a.text("#own-listing .edit-link"), "editable while nobody holds it")
	assert.Empty(t, a.count("#purchase"), "no Purchase of one's own ticket")

	a.do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#tickets tbody tr[data-ticket-id]")))
	assert.Equal(t, "newest", a.value("#sort"), "the landing page lists the newest first")
	rows := a.rows("#tickets")
	require.NotEmpty(t, rows)
	assert.Equal(t, listRow{ID: id, Title: title, Price: "$42.00", Status: "Available"}, rows[0], "first on the list")

	a.do(chromedp.Navigate(base+"/tickets/mine"), chromedp.WaitVisible(chromedp.CSS("#my-listings tbody tr[data-ticket-id]")))
	rows = a.rows("#my-listings")
	require.Len(t, rows, 1)
	assert.Equal(t, id, rows[0].ID, "and on My Listings")
}

func TestBrowserMyOrdersShowsAnOrderPlacedElsewhereWithoutReload(t *testing.T) {
	s := sharedStack(t)
	base := s.URL()
	title := fmt.Sprintf("Elsewhere Gig %s", tag(""))
	id := listed(t, signedUp(t, base, "elsewhere-seller"), title, "25")

	email := uniqueEmail("elsewhere-buyer")
	b := newPerson(t, base, "buyer")
	b.signUp(email)
	b.do(chromedp.Navigate(base+"/orders"), chromedp.WaitVisible(chromedp.CSS("#orders")))
	b.waitLive()
	_, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.sameDocument = true`))
	require.NoError(t, err)

	// The same buyer, signed in on another browser, orders.
	other := newPerson(t, base, "buyer elsewhere")
	other.do(chromedp.Navigate(base+"/auth/signin"), chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), email), chromedp.SendKeys(chromedp.CSS("#password"), "password1"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)), chromedp.WaitReady(chromedp.CSS(`body[data-user-id]`)))
	other.do(chromedp.Navigate(base+"/tickets/"+id), chromedp.WaitVisible(chromedp.CSS("#purchase button")),
		chromedp.Click(chromedp.CSS("#purchase button")), chromedp.WaitVisible(chromedp.CSS("#countdown")))
	orderID := strings.TrimPrefix(other.location(), "/orders/")
	require.Regexp(t, `^[0-9a-f]{24}$`, orderID)

	row := fmt.Sprintf(`#orders tr[data-order-id=%q]`, orderID)
	b.do(chromedp.WaitVisible(chromedp.CSS(row)))
	same, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.sameDocument === true`))
	require.NoError(t, err)
	assert.True(t, same, "no reload")
	first, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector('#orders tbody tr').dataset.orderId`))
	require.NoError(t, err)
	assert.Equal(t, orderID, first, "newest first")
	assert.Equal(t, title, b.text(row+" .ticket-title"))
	assert.Equal(t, "$25.00", b.text(row+" .ticket-price"))
	assert.Equal(t, "Awaiting payment", b.text(row+" .order-status"))
	assert.Regexp(t, regexp.MustCompile(`^\d+:\d\d left$`), b.text(row+" .countdown"))
	assert.Equal(t, "/orders/"+orderID, b.attr(row+" .pay-link", "href"))
	b.screenshot("my-orders-live")

	// Paid there: the row says Paid, still without a reload.
	other.payWithTestCard()
	b.do(chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//tr[@data-order-id=%q]//span[contains(@class,"badge")][text()="Paid"]`, orderID))))
	assert.Empty(t, b.count(row+" .countdown, "+row+" .pay-link"), "nothing left to pay")
	same, err = chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.sameDocument === true`))
	require.NoError(t, err)
	assert.True(t, same, "no reload")
}

func TestBrowserSearchFilterAndPageWithoutJavaScript(t *testing.T) {
	s := sharedStack(t)
	base := s.URL()
	series := tag("Series")
	seller := signedUp(t, base, "series-seller")
	for i := 1; i <= 24; i++ { // $1 … $24: two more than a page of 20 up to $22
		listed(t, seller, fmt.Sprintf("Chamber Concert %d, %s", i, series), strconv.Itoa(i))
	}
	dollars := func(from, to int) []string {
		var out []string
		for i := from; i <= to; i++ {
			out = append(out, fmt.Sprintf("$%d.00", i))
		}
		return out
	}
	prices := func(p *person) []string { return column(p.rows("#tickets"), func(r listRow) string { return r.Price }) }

	v := newPersonAt(t, base, "visitor", 1280, 900, noScript)
	q := "chamber " + strings.ToLower(series)
	v.do(
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#q")),
		chromedp.SendKeys(chromedp.CSS("#q"), q),
		chromedp.SendKeys(chromedp.CSS("#maxPrice"), "22"),
		choose("#sort", "price"),
		chromedp.Click(chromedp.CSS(`#filters button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#q[value=%q]`, q))),
	)
	assert.Empty(t, v.count(`body[data-live-open]`), "no script runs")
	asked := v.query()
	assert.Equal(t, q, asked.Get("q"))
	assert.Equal(t, "22", asked.Get("maxPrice"))
	assert.Equal(t, "price", asked.Get("sort"))
	assert.Equal(t, dollars(1, 20), prices(v), "the first page: 20, cheapest first")
	assert.Empty(t, v.count("#prev-page"), "no page before the first")
	next := v.attr("#next-page", "href")
	for _, kept := range []string{"q=", "maxPrice=22", "sort=price"} {
		assert.Contains(t, next, kept, "the next page keeps the search")
	}

	v.do(chromedp.Click(chromedp.CSS("#next-page")), chromedp.WaitVisible(chromedp.CSS("#prev-page")))
	assert.Equal(t, dollars(21, 22), prices(v), "the rest, up to the highest price asked")
	assert.Empty(t, v.count("#next-page"), "no page after the last")
	assert.Equal(t, q, v.value("#q"), "the form still shows the search")
	assert.Equal(t, "22", v.value("#maxPrice"))
	assert.Equal(t, "price", v.value("#sort"))

	v.do(chromedp.Click(chromedp.CSS("#prev-page")), chromedp.WaitVisible(chromedp.CSS("#next-page")))
	assert.Equal(t, dollars(1, 20), prices(v), "back on the first page")
	assert.Empty(t, v.count("#prev-page"), "which has no page before it")
	assert.Equal(t, "22", v.query().Get("maxPrice"))

	// A filter the API refuses is named beside its field.
	v.do(
		chromedp.SendKeys(chromedp.CSS("#minPrice"), "30"),
		chromedp.Click(chromedp.CSS(`#filters button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#maxPrice-error")),
	)
	assert.Equal(t, "true", v.attr("#maxPrice", "aria-invalid"))
	assert.NotEmpty(t, v.text("#maxPrice-error"))
	assert.Empty(t, v.rows("#tickets"), "nothing is listed for a refused search")
	assert.Equal(t, "30", v.value("#minPrice"), "the form keeps what was typed")
	v.screenshot("search-refused-noscript")
}

func TestBrowserListFiltersReadWholeAtEveryWidth(t *testing.T) {
	s := sharedStack(t)
	base := s.URL()
	b := newPerson(t, base, "buyer")
	b.signUp(uniqueEmail("filters"))
	for _, page := range []string{"/", "/tickets/mine", "/orders"} {
		b.do(chromedp.Navigate(base+page), chromedp.WaitVisible(chromedp.CSS("#filters")))
		// The widths the layout changes at: phones, small tablets (sm),
		// tablets (md), desktops (lg, xl).
		for _, width := range []int64{320, 390, 576, 700, 768, 900, 992, 1280} {
			b.do(chromedp.EmulateViewport(width, 900))
			where := fmt.Sprintf("%s at %d px", page, width)
			b.selectsFit(where)
			b.oneLine(where, "#filters .btn", 1)
			b.noHorizontalScroll(where)
		}
	}
}
