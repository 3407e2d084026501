package ginauth

import (
	"net/http"
	"testing"
)

// TestHeaderDPoPKeyCanonical holds the precomputed key to what http.Header
// would make of HeaderDPoP.
func TestHeaderDPoPKeyCanonical(t *testing.T) {
	if got := http.CanonicalHeaderKey(HeaderDPoP); got != headerDPoPKey {
		t.Fatalf("http.CanonicalHeaderKey(%q) = %q, headerDPoPKey = %q", HeaderDPoP, got, headerDPoPKey)
	}
}

func TestProofHeader(t *testing.T) {
	for _, tc := range []struct {
		name  string
		set   []string
		proof string
		ok    bool
	}{
		{"none", nil, "", true},
		{"one", []string{"p"}, "p", true},
		{"empty", []string{""}, "", true},
		{"two", []string{"p", "q"}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.set {
				h.Add("dpop", v)
			}
			proof, ok := ProofHeader(h)
			if proof != tc.proof || ok != tc.ok {
				t.Fatalf("ProofHeader = %q, %v; want %q, %v", proof, ok, tc.proof, tc.ok)
			}
		})
	}
}
