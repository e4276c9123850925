package validate_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/validate"
)

func TestParseTitleTrimsAndKeepsText(t *testing.T) {
	for typed, want := range map[string]string{
		"concert":          "concert",
		"  concert \n":     "concert",
		"\u00a0concert\t":  "concert",
		"Café Été 2026":    "Café Été 2026",
		"日本語のコンサート":        "日本語のコンサート",
		"שלום world":       "שלום world", // right-to-left text itself is fine
		"a\u200eb":         "a\u200eb",   // a direction mark overrides nothing
		"   ":              "",           // blank is the caller's `required`
		"rock 'n' <roll>?": "rock 'n' <roll>?",
	} {
		got, err := validate.ParseTitle(typed)
		require.NoError(t, err, "%q", typed)
		assert.Equal(t, want, got, "%q", typed)
	}
}

func TestParseTitleRefusesControlBidiAndInvalidUTF8(t *testing.T) {
	for _, typed := range []string{
		"a\x00b", "\x00", "con\x01cert", "a\tb", "a\nb", "a\rb", "a\x1bb", "a\x7fb", // C0 and DEL
		"a\u0080b", "a\u0085b", "a\u009fb", // C1
		"\u202aabc", "abc\u202b", "a\u202cb", "a\u202db", "\u202eabc", // embeddings and overrides
		"\u2066abc", "a\u2067b", "a\u2068b", "abc\u2069", // isolates
		"\xff", "abc\xc0\xaf", "a\xed\xa0\x80b", // invalid UTF-8 (overlong, surrogate)
	} {
		got, err := validate.ParseTitle(typed)
		assert.ErrorIs(t, err, validate.ErrTitle, "%q", typed)
		assert.Empty(t, got, "%q", typed)
	}
}

func TestTitleInJSONIsTrimmedBeforeItsLengthIsChecked(t *testing.T) {
	req, err := decode(t, `{"title":"  concert  ","price":10}`)
	require.Nil(t, err)
	assert.Equal(t, validate.Title("concert"), req.Title)

	for body, want := range map[string]httpapi.Detail{
		`{"title":"   ","price":10}`:                   {Field: "title", Message: "Title is required"},
		`{"title":"  ab  ","price":10}`:                {Field: "title", Message: "Title is required"},
		`{"title":"ab\u0000cd","price":10}`:            {Field: "title", Message: validate.TitleMessage},
		`{"title":"\u202eevil.exe","price":10}`:        {Field: "title", Message: validate.TitleMessage},
		`{"title":"abc\u2066","price":10}`:             {Field: "title", Message: validate.TitleMessage},
		"{\"title\":\"abc\x7f\",\"price\":10}":         {Field: "title", Message: validate.TitleMessage},
		"{\"title\":\"caf\xe9 latin-1\",\"price\":10}": {Field: "title", Message: validate.TitleMessage},
		`{"title":["a","b","c"],"price":10}`:           {Field: "title", Message: "Title is required"},
	} {
		_, err := decode(t, body)
		require.NotNil(t, err, "%q", body)
		assert.Equal(t, 400, err.Status, "%q", body)
		assert.Equal(t, []httpapi.Detail{want}, err.Details, "%q", body)
	}
}
