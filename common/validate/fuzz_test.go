package validate_test

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/validate"
)

// Crashers found by `go test -fuzz` are written to testdata/fuzz/FuzzXxx/;
// committed there, every plain `go test` replays them.

// plainAmount is a price anyone would type: it must never be refused when
// it is within the bounds.
var plainAmount = regexp.MustCompile(`^[0-9]{1,7}(\.[0-9]{1,2})?$`)

// checkPrice fails unless p is a chargeable price in whole cents.
func checkPrice(t *testing.T, p validate.Price) {
	t.Helper()
	c := p.Cents()
	if !p.Valid() || c < validate.MinPriceCents || c > validate.MaxPriceCents || float64(c)/100 != float64(p) {
		t.Fatalf("price %v (%d cents) is not a chargeable whole-cent price", p, c)
	}
	if _, frac, _ := strings.Cut(strconv.FormatFloat(float64(p), 'f', -1, 64), "."); len(frac) > 2 {
		t.Fatalf("price %v has more than 2 decimals", p)
	}
}

func FuzzParsePrice(f *testing.F) {
	for _, s := range []string{"20", "0.5", "0.49", "0.495", "20.10", "12.345", "1,000", "12,50", "$5", "abc", "", "1e-300", "1000000.005", " 7 ", "-0.5", "1e6", "0x1p4", "Inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := validate.ParsePrice(s)
		if err != nil {
			if !errors.Is(err, validate.ErrPrice) || p != 0 {
				t.Fatalf("ParsePrice(%q) = %v, %v: want 0 and ErrPrice", s, p, err)
			}
			if typed := strings.TrimSpace(s); plainAmount.MatchString(typed) {
				if v, _ := strconv.ParseFloat(typed, 64); v >= 0.5 && v <= 1_000_000 {
					t.Fatalf("ParsePrice(%q) refused a plain amount within the bounds", s)
				}
			}
			return
		}
		checkPrice(t, p)

		// The typed magnitude is kept: rounding moves it by half a cent at most.
		typed, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.Abs(float64(p)-typed) > 0.005+1e-9 {
			t.Fatalf("ParsePrice(%q) = %v, not the typed %v to the cent (%v)", s, p, typed, err)
		}
		// Round trips: its two-decimal form, its JSON and the typed text as a
		// JSON string give the same price.
		for _, text := range []string{strconv.FormatFloat(float64(p), 'f', 2, 64), strconv.FormatFloat(float64(p), 'f', -1, 64)} {
			if q, err := validate.ParsePrice(text); err != nil || q != p {
				t.Fatalf("ParsePrice(%q) = %v, %v; want %v as for %q", text, q, err, p, s)
			}
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		quoted, _ := json.Marshal(s)
		for _, raw := range [][]byte{b, quoted} {
			var q validate.Price
			if err := json.Unmarshal(raw, &q); err != nil || q != p {
				t.Fatalf("JSON %s decodes to %v, %v; want %v", raw, q, err, p)
			}
		}
	})
}

// fuzzRequest is a request type as the tickets API declares one.
type fuzzRequest struct {
	Title validate.Title `json:"title" validate:"required,min=3,max=200" msg:"Title must be 3 to 200 characters"`
	Price validate.Price `json:"price" validate:"price"`
}

func decodeBody(v *validate.Validator, body []byte) (fuzzRequest, error) {
	var req fuzzRequest
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
	err := v.Body(httptest.NewRecorder(), r, &req)
	return req, err
}

func FuzzDecodeTicketBody(f *testing.F) {
	for _, s := range []string{
		`{"title":"concert","price":20}`, `{"title":"  concert  ","price":"20.10"}`, `{"title":"ab","price":0.5}`,
		`{"title":"con\u0000cert","price":20}`, `{"title":"\u202eabc","price":20}`, "{\"title\":\"caf\xe9\",\"price\":20}",
		`{"title":"concert","price":"1,000"}`, `{"title":"concert","price":1e-300}`, `{"title":"concert"}`, `[]`, `{"title":`,
		`{"title":"concert","price":20} {}`, `{"title":["a"],"price":{"$gt":0}}`, `{"title":"concert","price":null}`,
	} {
		f.Add([]byte(s))
	}
	v := validate.New() // shared, as a service shares its one
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeBody(v, body)
		if err != nil {
			var he *httpapi.Error
			if !errors.As(err, &he) || (he.Status != http.StatusBadRequest && he.Status != http.StatusRequestEntityTooLarge) || len(he.Details) == 0 {
				t.Fatalf("body %q: want a 400 or 413 envelope, got %T %v", body, err, err)
			}
			for _, d := range he.Details {
				if d.Message == "" || (d.Field != "" && d.Field != "title" && d.Field != "price") {
					t.Fatalf("body %q: detail %+v", body, d)
				}
			}
			return
		}
		checkPrice(t, req.Price)
		title := string(req.Title)
		if clean, err := validate.ParseTitle(title); err != nil || clean != title {
			t.Fatalf("body %q: decoded title %q is not trimmed plain text (%v)", body, title, err)
		}
		if n := utf8.RuneCountInString(title); n < 3 || n > 200 {
			t.Fatalf("body %q: title of %d characters", body, n)
		}
		// Round trip: what was accepted, written as JSON, decodes to itself.
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeBody(v, b)
		if err != nil || again != req {
			t.Fatalf("body %q: %s decodes to %+v, %v; want %+v", body, b, again, err, req)
		}
	})
}
