package server

import (
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// TestAppendQuotedMatchesJSONText: every byte value at every position of
// strings around the unrolled stride, and multi-byte, invalid and escaped
// text, quoted exactly as jsontext.AppendQuote quotes it (and refused where it
// refuses).
func TestAppendQuotedMatchesJSONText(t *testing.T) {
	check := func(s string) {
		t.Helper()
		want, wantErr := jsontext.AppendQuote([]byte("x"), s)
		got, gotErr := appendQuoted([]byte("x"), s)
		if (wantErr != nil) != (gotErr != nil) || wantErr == nil && string(got) != string(want) {
			t.Fatalf("appendQuoted(%q) = %q, %v; jsontext: %q, %v", s, got, gotErr, want, wantErr)
		}
	}
	for n := 1; n <= 19; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("a", n))
				b[pos] = byte(c)
				check(string(b))
			}
		}
	}
	for _, s := range []string{"", "zoë <b>&amp;</b>", "\u2028\u2029", "emoji 😀", "bad \xff", "\xed\xa0\x80", "\x7f", "a\"b\\c/d",
		"2026-12-01T12:00:00Z", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln_-", strings.Repeat("é", 40)} {
		check(s)
	}
}
