package dpop

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestExpiryHeapOrder pushes expiries in random order, with repeats, popping
// some along the way, and checks that every pop takes the earliest one left.
func TestExpiryHeapOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h expiryHeap
	var want []int64 // what h holds, kept sorted
	for i := range 2000 {
		at := r.Int64N(500)
		h.push(expiry{at: at, key: replayKey{byte(i)}})
		want = append(want, at)
		slices.Sort(want)
		if r.IntN(3) == 0 {
			if got := h[0].at; got != want[0] {
				t.Fatalf("step %d: earliest = %d, want %d", i, got, want[0])
			}
			h.pop()
			want = want[1:]
		}
	}
	for len(want) > 0 {
		if got := h[0].at; got != want[0] {
			t.Fatalf("draining: earliest = %d, want %d", got, want[0])
		}
		h.pop()
		want = want[1:]
	}
	if len(h) != 0 {
		t.Fatalf("%d entries left after draining", len(h))
	}
}
