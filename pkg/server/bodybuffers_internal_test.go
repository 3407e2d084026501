package server

import "testing"

// TestBodyBuffersCleared: a buffer comes back from the pool empty and with
// nothing of its last answer left in its array, even when the encoding that
// used it failed half way.
func TestBodyBuffersCleared(t *testing.T) {
	var p bodyBuffers
	b := p.get()
	*b = append((*b)[:0], "secret-token"...)
	p.put(b)
	if len(*b) != 0 {
		t.Fatalf("len %d after put", len(*b))
	}
	for i, c := range (*b)[:cap(*b)] {
		if c != 0 {
			t.Fatalf("byte %d is %q after put", i, c)
		}
	}
	// A failed encoding: the bytes went into the array, the slice kept length 0.
	b = p.get()
	_ = append((*b)[:0], "half-written"...)
	p.put(b)
	for i, c := range (*b)[:cap(*b)] {
		if c != 0 {
			t.Fatalf("byte %d is %q after a failed encoding", i, c)
		}
	}
}
