package bytetable

import (
	"strings"
	"testing"
)

// digits refuses every byte but '0' to '9'.
var digits = func() string {
	var b [256]byte
	for i := range b {
		if i < '0' || i > '9' {
			b[i] = 1
		}
	}
	return string(b[:])
}()

// TestNone puts a refused byte at every position of strings of every length
// up to 40 (both loops, every accumulator) and checks it is found, and that the
// same strings without it pass.
func TestNone(t *testing.T) {
	for n := 0; n <= 40; n++ {
		clean := strings.Repeat("7", n)
		if !None(clean, digits) {
			t.Fatalf("None(%q) = false, want true", clean)
		}
		for i := 0; i < n; i++ {
			for _, c := range []byte{'a', 0, 0xff, '/', ':'} {
				s := clean[:i] + string(c) + clean[i+1:]
				if None(s, digits) {
					t.Fatalf("None(%q) = true, want false (byte %#x at %d)", s, c, i)
				}
			}
		}
	}
}

// TestNoneShortTable checks that a table too short to cover every byte value
// is refused at once rather than read past its end for some inputs only.
func TestNoneShortTable(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("None with a 255-byte table did not panic")
		}
	}()
	None("", digits[:255])
}

// TestCompactJWS checks the table byte by byte against the grammar: the
// base64url alphabet and the dot pass, every other byte is refused.
func TestCompactJWS(t *testing.T) {
	for c := 0; c < 256; c++ {
		want := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
		if got := None(string([]byte{byte(c)}), CompactJWS); got != want {
			t.Fatalf("None(%#x, CompactJWS) = %v, want %v", c, got, want)
		}
	}
}
