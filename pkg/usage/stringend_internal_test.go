package usage

import (
	"bytes"
	"testing"
)

// TestStringEnd compares stringEnd, which reads a word at a time, with a byte
// by byte search: every length up to past its word-at-a-time part, the quote
// or the backslash at every position, after bytes that are near them in value
// or have the high bit set (a word's carries and borrows).
func TestStringEnd(t *testing.T) {
	naive := func(p []byte) int {
		for i, c := range p {
			if c == '"' || c == '\\' {
				return i
			}
		}
		return len(p)
	}
	fills := []byte{'a', 0x00, 0x01, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff}
	for _, fill := range fills {
		for n := range 80 {
			p := bytes.Repeat([]byte{fill}, n)
			if got := stringEnd(p); got != n {
				t.Fatalf("fill %#x, length %d, no end: %d", fill, n, got)
			}
			for at := range n {
				for _, end := range []byte{'"', '\\'} {
					q := bytes.Clone(p)
					q[at] = end
					// A second end after the first must not be the one found.
					if at+3 < n {
						q[at+3] = '"'
					}
					if got, want := stringEnd(q), naive(q); got != want {
						t.Fatalf("fill %#x, length %d, %q at %d: got %d, want %d", fill, n, end, at, got, want)
					}
				}
			}
		}
	}
}
