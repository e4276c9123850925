package main

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"ticketing.dev/common/validate"
)

// The sell and edit forms refuse what their messages refuse, before any
// API is asked, and show every field's error at once beside its field.
// The API takes more (1e6, +5, 20.005 rounded); the form keeps to what
// its words promise, in its pattern attribute and here alike.

// plainPrice is a price as validate.PriceMessage describes it: digits,
// and at most two decimals.
var plainPrice = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,2})?$`)

// pricePattern is plainPrice for the input's pattern attribute, which
// matches the whole value (the server trims the spaces it allows).
const pricePattern = `\s*[0-9]+(\.[0-9]{1,2})?\s*`

// titleRule is a form's title length, as its API checks it: tickets takes
// 3 to 200 characters for a new ticket and 1 to 200 for an edit.
type titleRule struct {
	Min, Max int
	Message  string
}

var (
	newTitle  = titleRule{3, 200, "Title must be 3 to 200 characters"}
	editTitle = titleRule{1, 200, "Title is required (at most 200 characters)"}
)

// ticketForm is a sell or edit form as typed, and what is wrong with it.
type ticketForm struct {
	Title, Price string
	TitleRule    titleRule
	// Errors are the messages beside each field ("title", "price"); Other
	// the API's messages that name none.
	Errors map[string]string
	Other  []string
	// PricePattern is for the template, as the attribute wants it.
	PricePattern string
}

// filledForm is a form to fill in, starting from title and price.
func filledForm(rule titleRule, title, price string) ticketForm {
	return ticketForm{Title: title, Price: price, TitleRule: rule, Errors: map[string]string{}, PricePattern: pricePattern}
}

// readTicketForm checks the posted form. A valid field is kept as the API
// is sent it (the title trimmed, the price with two decimals), an invalid
// one as typed.
func readTicketForm(r *http.Request, rule titleRule) ticketForm {
	f := filledForm(rule, r.PostFormValue("title"), r.PostFormValue("price"))
	title, err := validate.ParseTitle(f.Title)
	switch n := utf8.RuneCountInString(title); {
	case err != nil:
		f.Errors["title"] = validate.TitleMessage
	case n < rule.Min || n > rule.Max:
		f.Errors["title"] = rule.Message
	default:
		f.Title = title
	}
	typed := strings.TrimSpace(f.Price)
	if p, err := validate.ParsePrice(typed); err != nil || !plainPrice.MatchString(typed) {
		f.Errors["price"] = validate.PriceMessage
	} else {
		f.Price = strconv.FormatFloat(float64(p), 'f', 2, 64)
	}
	return f
}

// ok reports whether nothing is wrong with the form.
func (f ticketForm) ok() bool { return len(f.Errors) == 0 && len(f.Other) == 0 }

// body is the API's request body for the form.
func (f ticketForm) body() map[string]string {
	return map[string]string{"title": f.Title, "price": f.Price}
}

// refused adds the API's refusal: each message beside the field it names.
func (f *ticketForm) refused(api *apiError) {
	named := map[string]bool{}
	for field, msg := range api.Fields {
		if field == "title" || field == "price" {
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
