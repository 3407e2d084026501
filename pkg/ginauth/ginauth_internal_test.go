package ginauth

import "testing"

// TestIsToken68EveryByte checks the bit masks against the RFC 7235 grammar
// written out plainly, for every byte value in every position.
func TestIsToken68EveryByte(t *testing.T) {
	want := func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
	}
	for i := 0; i < 256; i++ {
		c := byte(i)
		for _, s := range []string{string(c), "ab" + string(c) + "cd", "abc" + string(c)} {
			ok := want(c) || (c == '=' && s[len(s)-1] == '=' && s != "=")
			if got := isToken68(s); got != ok {
				t.Errorf("isToken68(%q) = %v, want %v", s, got, ok)
			}
		}
	}
	for _, s := range []string{"", "=", "==", "a=b"} {
		if isToken68(s) {
			t.Errorf("isToken68(%q) = true", s)
		}
	}
	if !isToken68("abc==") {
		t.Errorf("padding refused")
	}
}
