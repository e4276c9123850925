package catalog

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Words returns the search words of s, in order, as the index and a query
// both see them: s is split on anything that is not a letter or a digit,
// lower-cased and stripped of accents, so "Café-Concert ÉTÉ" gives
// [cafe concert ete]. A string of separators has no words.
func Words(s string) []string {
	return strings.Fields(fold(s))
}

// fold is s lower-cased and without accents, its words separated by single
// spaces, with no space around. Compatibility decomposition (NFKD) splits
// "é" into "e" and a combining accent, which is dropped, and turns
// ligatures and full-width forms into plain letters ("ﬁ" → "fi"). A few
// letters that do not decompose are spelled out the way a user types them
// without the key (ß → ss, ø → o).
func fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !ascii {
		s = norm.NFKD.String(s)
	}
	b := make([]byte, 0, len(s))
	space := false // a separator since the last word character
	emit := func(r rune) {
		if space && len(b) > 0 {
			b = append(b, ' ')
		}
		space = false
		b = utf8.AppendRune(b, r)
	}
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			switch {
			case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
				emit(r)
			case 'A' <= r && r <= 'Z':
				emit(r + 'a' - 'A')
			default:
				space = true
			}
		case unicode.Is(unicode.Mn, r):
			// A combining accent: part of the letter before it, dropped.
		case spelled[r] != "":
			for _, c := range spelled[r] {
				emit(c)
			}
		case unicode.IsLetter(r), unicode.IsDigit(r), unicode.In(r, unicode.Mc, unicode.Me):
			emit(unicode.ToLower(r))
		default:
			space = true
		}
	}
	return string(b)
}

// spelled are letters NFKD leaves whole, as written without them.
var spelled = map[rune]string{
	'ß': "ss", 'ẞ': "ss",
	'æ': "ae", 'Æ': "ae",
	'œ': "oe", 'Œ': "oe",
	'ø': "o", 'Ø': "o",
	'ł': "l", 'Ł': "l",
	'đ': "d", 'Đ': "d",
	'ð': "d", 'Ð': "d",
	'þ': "th", 'Þ': "th",
	'ı': "i",
	'ς': "σ",
}

// queryWords are the words a title must hold as word prefixes: duplicates
// and any word that is a prefix of another query word go, since the longer
// word's match implies theirs.
func queryWords(words []string) []string {
	out := make([]string, 0, len(words))
	for i, w := range words {
		if w == "" {
			continue
		}
		implied := false
		for j, o := range words {
			if i != j && strings.HasPrefix(o, w) && (len(o) > len(w) || j < i) {
				implied = true
				break
			}
		}
		if !implied {
			out = append(out, w)
		}
	}
	return out
}

// hasWordPrefixes reports whether the folded title (with a leading space,
// as entries keep it) has a word starting with each of the query words
// (each with a leading space).
func hasWordPrefixes(title string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(title, w) {
			return false
		}
	}
	return true
}
