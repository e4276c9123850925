package validate

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// Price is a JSON number that also accepts a numeric string ("20.00"), as
// the original's express-validator did. It marshals as a plain number.
type Price float64

func (p *Price) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if unquoted, err := strconv.Unquote(s); err == nil {
		s = strings.TrimSpace(unquoted)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		// An UnmarshalTypeError lets encoding/json add the field's name.
		return &json.UnmarshalTypeError{Value: "price " + string(b), Type: reflect.TypeFor[Price]()}
	}
	*p = Price(f)
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
