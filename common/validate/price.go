package validate

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// The bounds of a price, in cents (docs/CONTRACT.md §2a): Stripe charges nothing
// under $0.50, and a listing above $1,000,000 is a typo, not a sale.
const (
	MinPriceCents = 50
	MaxPriceCents = 100_000_000
)

// PriceMessage says what a price looks like; the API and the web form show
// it for every price they refuse.
const PriceMessage = "Price must be a number from 0.50 to 1000000 with at most 2 decimals, like 20 or 20.50"

// ErrPrice is the error of every refused price.
var ErrPrice = errors.New(PriceMessage)

// Price is a JSON number that also accepts a numeric string ("20.00"), as
// the original's express-validator did. Decoded prices are rounded to whole
// cents and within the bounds; a Price marshals as a plain number.
type Price float64

// ParsePrice is the one price rule: a decimal number (digits, an optional
// point and exponent; no thousands separators, currency signs or words),
// rounded half up to whole cents, then from 0.50 to 1,000,000.
func ParsePrice(s string) (Price, error) {
	s = strings.TrimSpace(s)
	// ParseFloat alone would also take "Inf", "NaN" and hex floats.
	if s == "" || strings.IndexFunc(s, notDecimal) >= 0 {
		return 0, fmt.Errorf("price %q: %w", s, ErrPrice)
	}
	f, err := strconv.ParseFloat(s, 64)
	// Far out of bounds stops here: Cents formats the number in full.
	if err != nil || f < 0 || f > 2*MaxPriceCents/100 {
		return 0, fmt.Errorf("price %q: %w", s, ErrPrice)
	}
	cents := Price(f).Cents()
	if cents < MinPriceCents || cents > MaxPriceCents {
		return 0, fmt.Errorf("price %q rounds to %d cents: %w", s, cents, ErrPrice)
	}
	// The double nearest cents/100, whose shortest form has ≤ 2 decimals.
	return Price(float64(cents) / 100), nil
}

func notDecimal(r rune) bool {
	return !strings.ContainsRune("0123456789.eE+-", r)
}

// Valid reports whether p is a price ParsePrice could have returned: within
// the bounds and in whole cents.
func (p Price) Valid() bool {
	f := float64(p)
	if math.IsNaN(f) || f < 0 || f > MaxPriceCents/100 {
		return false
	}
	c := p.Cents()
	return c >= MinPriceCents && c <= MaxPriceCents && float64(c)/100 == f
}

// UnmarshalJSON applies ParsePrice to a number or a string; null leaves the
// price zero, which the `price` tag refuses.
func (p *Price) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return &json.UnmarshalTypeError{Value: "price " + string(b), Type: reflect.TypeFor[Price]()}
		}
	}
	v, err := ParsePrice(s)
	if err != nil {
		// An UnmarshalTypeError lets encoding/json add the field's name.
		return &json.UnmarshalTypeError{Value: "price " + string(b), Type: reflect.TypeFor[Price]()}
	}
	*p = v
	return nil
}

// Cents is the amount in integer cents, rounded half up. It works on the
// shortest decimal form of the price (what the user typed), not on p*100:
// 20.10*100 is 2009.999… and 1.005*100 is 100.4999… in binary floating point.
func (p Price) Cents() int64 {
	s := strconv.FormatFloat(math.Abs(float64(p)), 'f', -1, 64)
	whole, frac, _ := strings.Cut(s, ".")
	frac += "000"
	cents, _ := strconv.ParseInt(whole+frac[:2], 10, 64)
	if frac[2] >= '5' {
		cents++
	}
	if p < 0 {
		return -cents
	}
	return cents
}
