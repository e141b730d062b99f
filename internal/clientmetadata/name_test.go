package clientmetadata

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// The consent page shows client_name, the client's own claim, beside the
// client_id's host. A name must not be able to look empty, break the line
// it sits on, or draw over the lines around it.
func TestClientNameDisplayable(t *testing.T) {
	const id = "https://app.example/client"
	doc := func(name string) []byte {
		n, _ := json.Marshal(name)
		return []byte(`{"client_id":"` + id + `","client_name":` + string(n) + `,"redirect_uris":["https://app.example/cb"]}`)
	}
	for _, name := range []string{
		"Claude",
		"Zürich Café",
		"日本語アプリ",
		"हिन्दी ऐप",         // combining vowel signs and virama
		"Tiếng Việt",        // decomposed below: base + 2 marks
		"Tie\u0302\u0301ng", // ê + acute as combining marks
		"❤\ufe0f Love",      // variation selector
		"A & B (beta) v2.1",
	} {
		if _, err := Parse(id, doc(name)); err != nil {
			t.Errorf("client_name %q refused: %v", name, err)
		}
	}
	for what, name := range map[string]string{
		"Hangul filler only":      "\u3164",
		"halfwidth Hangul filler": "\uffa0\uffa0",
		"braille blank only":      "\u2800",
		"combining marks only":    "\u0301\u0301",
		"grapheme joiner only":    "\u034f",
		"line separator":          "Acme\u2028Verified by your administrator",
		"paragraph separator":     "Acme\u2029Verified",
		"no-break spaces to push": "Acme" + strings.Repeat("\u00a0", 40) + "(verified)",
		"ideographic spaces":      "Acme\u3000\u3000\u3000\u3000(verified)",
		"private use character":   "Acme \ue000",
		"unassigned code point":   "Acme \u0378",
		"stacked combining marks": "A" + strings.Repeat("\u0336\u0335\u0334", 10),
		"leading space":           " Acme",
		"trailing space":          "Acme ",
		"runs of spaces to push":  "Acme" + strings.Repeat(" ", 40) + "(verified)",
	} {
		_, err := Parse(id, doc(name))
		if !errors.Is(err, ErrDocument) || !strings.Contains(err.Error(), "client_name") {
			t.Errorf("%s: client_name %q: err %v, want %s about client_name", what, name, err, ReasonDocument)
		}
	}
}
