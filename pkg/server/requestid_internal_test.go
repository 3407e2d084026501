package server

import (
	"regexp"
	"testing"
)

// TestRequestIDsUnique checks the generated ids' shape, that one generator
// never repeats an id, and that two generators (two servers, or one server
// restarted) have different prefixes.
func TestRequestIDsUnique(t *testing.T) {
	shape := regexp.MustCompile(`^[0-9a-f]{32}$`)
	g := newRequestIDs()
	seen := make(map[string]bool)
	for range 100_000 {
		id := g.next()
		if !shape.MatchString(id) {
			t.Fatalf("id %q: want 32 lower-case hex digits", id)
		}
		if seen[id] {
			t.Fatalf("id %q generated twice", id)
		}
		seen[id] = true
		if !validRequestID(id) {
			t.Fatalf("id %q is not a valid request id", id)
		}
	}
	// Generators draw their prefixes independently: equal ones (a chance of
	// 2^-64) would mean they are not random.
	if a, b := newRequestIDs().next(), newRequestIDs().next(); a[:16] == b[:16] {
		t.Errorf("two generators share the prefix %q", a[:16])
	}
}

// TestMix64Bijective checks mix64 on inputs that differ in a single bit or are
// consecutive: a function that loses bits would map some of them together.
func TestMix64Bijective(t *testing.T) {
	seen := make(map[uint64]uint64)
	check := func(in uint64) {
		out := mix64(in)
		if prev, ok := seen[out]; ok && prev != in {
			t.Fatalf("mix64(%#x) = mix64(%#x) = %#x", in, prev, out)
		}
		seen[out] = in
	}
	for i := range uint64(64) {
		check(1 << i)
		check(^(uint64(1) << i))
	}
	for i := range uint64(100_000) {
		check(i)
		check(^i)
	}
}
