package token

import "testing"

// TestCompactCharsEveryByte checks the table against the alphabet written out.
func TestCompactCharsEveryByte(t *testing.T) {
	const ok = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
	for i := 0; i < 256; i++ {
		c := byte(i)
		want := false
		for j := 0; j < len(ok); j++ {
			want = want || ok[j] == c
		}
		for _, s := range []string{string(c), "ab" + string(c) + "cd"} {
			if got := compactChars(s); got != want {
				t.Errorf("compactChars(%q) = %v, want %v", s, got, want)
			}
		}
	}
	if !compactChars("") {
		t.Errorf("compactChars(\"\") = false")
	}
}
