package ginauth

import (
	"strings"
	"testing"
)

// TestIsToken68EveryPosition checks the unrolled loop against the grammar one
// byte at a time: every byte value at every position of strings of lengths
// around the unrolled stride, with and without padding.
func TestIsToken68EveryPosition(t *testing.T) {
	allowed := func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-._~+/", c) >= 0
	}
	for n := 1; n <= 25; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("a", n))
				b[pos] = byte(c)
				for _, pad := range []string{"", "=", "=="} {
					s := string(b) + pad
					want := allowed(byte(c)) || (c == '=' && pos == n-1 && n > 1)
					if got := isToken68(s); got != want {
						t.Fatalf("isToken68(%q) = %v, want %v", s, got, want)
					}
				}
			}
		}
	}
}
