package token

import (
	"strings"
	"testing"
)

// TestCompactCharsEveryPosition checks the unrolled loop against the alphabet
// one byte at a time: every byte value at every position of strings of lengths
// around the unrolled stride.
func TestCompactCharsEveryPosition(t *testing.T) {
	allowed := func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
	}
	for n := 1; n <= 25; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("a", n))
				b[pos] = byte(c)
				if got, want := compactChars(string(b)), allowed(byte(c)); got != want {
					t.Fatalf("compactChars(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}
