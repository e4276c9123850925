package validate

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
)

// TitleMessage is shown for every title ParseTitle refuses; lengths stay
// with each request type's own `validate` and `msg` tags.
const TitleMessage = "Title must be plain text, without control characters (such as NUL or line breaks) or bidi overrides"

// ErrTitle is the error of every title refused for its characters.
var ErrTitle = errors.New(TitleMessage)

// ParseTitle is the title rule (docs/CONTRACT.md §2a): the title trimmed of
// surrounding space, refused when it is not valid UTF-8 or holds a control
// character (C0, DEL, C1) or a bidi override or isolate, which would let a
// listing reorder or hide the text shown around it. Blank is left to the
// caller's `required`.
func ParseTitle(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("title: not UTF-8: %w", ErrTitle)
	}
	s = strings.TrimSpace(s)
	if i := strings.IndexFunc(s, forbiddenInTitle); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return "", fmt.Errorf("title: %U at byte %d: %w", r, i, ErrTitle)
	}
	return s, nil
}

func forbiddenInTitle(r rune) bool {
	return unicode.IsControl(r) || // U+0000–U+001F, U+007F–U+009F
		(r >= '\u202A' && r <= '\u202E') || // LRE, RLE, PDF, LRO, RLO
		(r >= '\u2066' && r <= '\u2069') // LRI, RLI, FSI, PDI
}

// Title is a JSON string that decodes through ParseTitle, so the checks and
// lengths of the `validate` tag see the trimmed title.
type Title string

// UnmarshalJSON checks the raw bytes for UTF-8 first: encoding/json would
// otherwise turn invalid bytes into U+FFFD without a word.
func (t *Title) UnmarshalJSON(b []byte) error {
	if !utf8.Valid(b) {
		return &json.UnmarshalTypeError{Value: "title (not UTF-8)", Type: reflect.TypeFor[Title]()}
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err // not a string: the field's own message says what it takes
	}
	s, err := ParseTitle(s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: "title " + string(b), Type: reflect.TypeFor[Title]()}
	}
	*t = Title(s)
	return nil
}
