package dpoptest

import "testing"

// MustES256 returns a fresh ES256 key ([NewES256]), failing t if none can be made.
func MustES256(t testing.TB) *Key {
	t.Helper()
	k, err := NewES256()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// MustProof returns k's proof with claims c ([Key.Proof]), failing t if it
// cannot be made.
func (k *Key) MustProof(t testing.TB, c Claims) string {
	t.Helper()
	p, err := k.Proof(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
