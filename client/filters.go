package main

import (
	"html/template"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// The list pages' filter forms: plain GET forms, so they work without a
// script and their values stay in the URL.

// option is one choice of a select; its value goes to the API as it is.
type option struct {
	Value, Label string
	Selected     bool
}

var (
	catalogStatuses = []option{{Value: "available", Label: "Available"}, {Value: "reserved", Label: "Reserved"},
		{Value: "sold", Label: "Sold"}, {Value: "available,reserved,sold", Label: "Any status"}}
	listingStatuses = []option{{Value: "", Label: "Any status"}, {Value: "available", Label: "Available"},
		{Value: "reserved", Label: "Reserved"}, {Value: "sold", Label: "Sold"}}
	// Short enough to be read whole in a half-width select on a phone (a
	// select cuts a longer label off, with no ellipsis).
	ticketSorts = []option{{Value: "newest", Label: "Newest first"}, {Value: "oldest", Label: "Oldest first"},
		{Value: "price", Label: "Lowest price"}, {Value: "-price", Label: "Highest price"}}
	orderStatuses = []option{{Value: "", Label: "All orders"}, {Value: "created,awaiting:payment", Label: "Awaiting payment"},
		{Value: "complete", Label: "Paid"}, {Value: "cancelled", Label: "Cancelled or expired"}}
)

// choose marks current among opts. A value the select does not offer (a
// hand-made URL) is added as it is, so the form sends back what it got.
func choose(current string, opts []option) []option {
	out := make([]option, 0, len(opts)+1)
	found := false
	for _, o := range opts {
		o.Selected = o.Value == current
		found = found || o.Selected
		out = append(out, o)
	}
	if !found {
		out = append(out, option{Value: current, Label: current, Selected: true})
	}
	return out
}

// filterForm is a list page's filters as the page asked the API for them.
type filterForm struct {
	Values       url.Values
	Status, Sort []option
	Hidden       url.Values        // asked for, but without a control: kept as hidden fields
	Errors       map[string]string // the API's message beside the control it names
	Other        []string          // its messages that name no control
	Bad          bool              // the API refused the query
	controls     []string
}

// newFilterForm is the form for the API query q, whose controls are the
// given parameters; statuses and sorts are its selects (nil: none).
func newFilterForm(q url.Values, controls []string, statuses, sorts []option) filterForm {
	f := filterForm{Values: q, Hidden: url.Values{}, Errors: map[string]string{}, controls: controls}
	if statuses != nil {
		f.Status = choose(q.Get("status"), statuses)
	}
	if sorts != nil {
		sort := q.Get("sort")
		if sort == "" {
			sort = "newest"
		}
		f.Sort = choose(sort, sorts)
	}
	for k, v := range q {
		switch {
		case k == "after" || k == "before": // a new search starts at the first page
		case k == "limit" && v[0] == strconv.Itoa(pageSize):
		case k == "seller" && v[0] == "me": // fixed by My Listings
		case !slices.Contains(controls, k):
			f.Hidden[k] = v
		}
	}
	return f
}

// refused shows the API's 400 for a bad parameter beside the form.
func (f *filterForm) refused(api *apiError) {
	f.Bad = true
	named := map[string]bool{}
	for field, msg := range api.Fields {
		if slices.Contains(f.controls, field) {
			f.Errors[field] = msg
			named[msg] = true
		}
	}
	for _, msg := range api.Messages {
		if !named[msg] {
			f.Other = append(f.Other, msg)
		}
	}
}

// fieldAttrs are a form control's aria attributes: aria-invalid when errs
// names field, and aria-describedby its hints and its error message
// (whose id is field+"-error").
func fieldAttrs(errs map[string]string, field string, hints ...string) template.HTMLAttr {
	var b strings.Builder
	ids := hints
	if errs[field] != "" {
		b.WriteString(` aria-invalid="true"`)
		ids = append(ids, field+"-error")
	}
	if len(ids) > 0 {
		b.WriteString(` aria-describedby="` + template.HTMLEscapeString(strings.Join(ids, " ")) + `"`)
	}
	return template.HTMLAttr(b.String())
}
