package validate_test

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/validate"
)

func TestParsePriceRoundsToWholeCentsHalfUp(t *testing.T) {
	for typed, want := range map[string]validate.Price{
		"0.5":         0.5,
		"0.50":        0.5,
		"0.495":       0.5,
		"20":          20,
		"20.10":       20.1,
		" 20.10 ":     20.1,
		"12.345":      12.35,
		"1.005":       1.01,
		"19.999":      20,
		"1000000":     1_000_000,
		"1000000.004": 1_000_000,
		"2e1":         20,
		".5":          0.5,
		"5.":          5,
		"+5":          5,
	} {
		got, err := validate.ParsePrice(typed)
		require.NoError(t, err, typed)
		assert.Equal(t, want, got, typed)
		assert.True(t, got.Valid(), typed)
	}
}

func TestParsePriceRefusesWhatCannotBeCharged(t *testing.T) {
	for _, typed := range []string{
		// not a plain decimal number
		"1,000", "12,50", "$5", "5$", "€5", "5 USD", "abc", "", "   ", "1_000", "0x1p4",
		"Inf", "-Inf", "NaN", "1.2.3", "--5", "5e", "e5", ".", "1 000",
		// rounds below 0.50 (Stripe's smallest charge), or negative
		"0.49", "0.494", "0.001", "1e-300", "0", "-0", "-0.5", "-20",
		// above 1,000,000 after rounding
		"1000000.005", "1000000.01", "1e7", "1e308", "1e309",
	} {
		p, err := validate.ParsePrice(typed)
		assert.ErrorIs(t, err, validate.ErrPrice, "%q gave %v", typed, p)
		assert.Zero(t, p, typed)
	}
}

func TestPriceErrorSaysWhatAPriceLooksLike(t *testing.T) {
	_, err := validate.ParsePrice("1,000")
	require.True(t, errors.Is(err, validate.ErrPrice))
	assert.Equal(t, "Price must be a number from 0.50 to 1000000 with at most 2 decimals, like 20 or 20.50", validate.PriceMessage)
}

func TestPriceValidOnlyForWholeCentsWithinBounds(t *testing.T) {
	for p, want := range map[validate.Price]bool{
		0.5: true, 20.1: true, 1_000_000: true,
		0.49: false, 0: false, -1: false, 20.104: false, 1_000_000.01: false,
		validate.Price(math.Inf(1)): false, validate.Price(math.NaN()): false, 1e300: false,
	} {
		assert.Equal(t, want, p.Valid(), "%v", p)
	}
}

func TestPriceInJSONFollowsTheSameRule(t *testing.T) {
	ok := map[string]validate.Price{
		`0.5`: 0.5, `"0.5"`: 0.5, `20.10`: 20.1, `"20.10"`: 20.1, `12.345`: 12.35, `" 7 "`: 7, `1e6`: 1_000_000,
		`"\u0035"`: 5, // an escaped "5" is still the string "5"
	}
	for raw, want := range ok {
		req, err := decode(t, `{"title":"concert","price":`+raw+`}`)
		require.Nil(t, err, raw)
		assert.Equal(t, want, req.Price, raw)
	}
	for _, raw := range []string{
		`"1,000"`, `"12,50"`, `"$5"`, `"abc"`, `""`, `1e-300`, `0.001`, `"0.001"`, `0.49`, `-1`, `0`,
		`1000000.01`, `1e308`, `"Infinity"`, `true`, `[]`, `{"$gt":0}`, `null`,
	} {
		_, err := decode(t, `{"title":"concert","price":`+raw+`}`)
		require.NotNil(t, err, raw)
		assert.Equal(t, 400, err.Status, raw)
		assert.Equal(t, []httpapi.Detail{{Field: "price", Message: validate.PriceMessage}}, err.Details, raw)
	}
}
