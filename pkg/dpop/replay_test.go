package dpop

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func mustReplayCache(t testing.TB, size int) *ReplayCache {
	t.Helper()
	c, err := NewReplayCache(size)
	if err != nil {
		t.Fatalf("NewReplayCache: %v", err)
	}
	return c
}

func TestReplaySameProofTwice(t *testing.T) {
	clk := newTestClock()
	c := newCase(t, newECKey(t), clk.t)
	v := mustVerifier(t, WithClock(clk.now))
	proof := c.spec.proof(t)
	if _, err := v.Verify(proof, c.req); err != nil {
		t.Fatalf("first use: %v", err)
	}
	_, err := v.Verify(proof, c.req)
	checkRefused(t, err, ErrProofReplayed)

	// A new proof with the same jti (another signature, even another request) is
	// the same proof used again.
	again := c.clone()
	again.spec.claims["htm"] = "GET"
	again.req.Method = "GET"
	_, err = v.Verify(again.spec.proof(t), again.req)
	checkRefused(t, err, ErrProofReplayed)

	// Up to the last instant the proof passes the iat check, it is remembered.
	clk.t = clk.t.Add(DefaultMaxAge + DefaultLeeway)
	_, err = v.Verify(proof, c.req)
	checkRefused(t, err, ErrProofReplayed)
}

// TestReplayScopedByKey: a jti is one key's; another key may use the same string.
func TestReplayScopedByKey(t *testing.T) {
	clk := newTestClock()
	v := mustVerifier(t, WithClock(clk.now))
	a, b := newCase(t, newECKey(t), clk.t), newCase(t, newEdKey(t, "EdDSA"), clk.t)
	b.spec.claims["jti"] = a.spec.claims["jti"]
	for _, c := range []*proofCase{a, b} {
		if _, err := v.Verify(c.spec.proof(t), c.req); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
}

// TestReplayCacheShared: a cache passed to a new verifier (a reload) keeps
// refusing the proofs the old one accepted.
func TestReplayCacheShared(t *testing.T) {
	clk := newTestClock()
	cache := mustReplayCache(t, 10)
	c := newCase(t, newECKey(t), clk.t)
	proof := c.spec.proof(t)
	if _, err := mustVerifier(t, WithClock(clk.now), WithReplayCache(cache)).Verify(proof, c.req); err != nil {
		t.Fatal(err)
	}
	_, err := mustVerifier(t, WithClock(clk.now), WithReplayCache(cache), WithMaxAge(time.Hour)).Verify(proof, c.req)
	checkRefused(t, err, ErrProofReplayed)
}

// TestReplayCacheFull: at the cap, new proofs are refused and none is forgotten;
// once entries expire there is room again.
func TestReplayCacheFull(t *testing.T) {
	clk := newTestClock()
	cache := mustReplayCache(t, 3)
	v := mustVerifier(t, WithClock(clk.now), WithReplayCache(cache))
	key := newECKey(t)
	var accepted []*proofCase
	for i := range 3 {
		c := newCase(t, key, clk.t)
		if _, err := v.Verify(c.spec.proof(t), c.req); err != nil {
			t.Fatalf("proof %d: %v", i, err)
		}
		accepted = append(accepted, c)
	}
	if n := cache.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
	extra := newCase(t, key, clk.t)
	_, err := v.Verify(extra.spec.proof(t), extra.req)
	checkRefused(t, err, ErrReplayCacheFull)
	// Full, yet every remembered proof is still refused as a replay.
	for _, c := range accepted {
		_, err := v.Verify(c.spec.proof(t), c.req)
		checkRefused(t, err, ErrProofReplayed)
	}
	// The proof refused for lack of room was not recorded: once there is room
	// (the first three expired), it is accepted.
	clk.t = clk.t.Add(DefaultMaxAge + DefaultLeeway + time.Nanosecond)
	extra.spec.claims["iat"] = clk.t.Unix()
	if _, err := v.Verify(extra.spec.proof(t), extra.req); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if n := cache.Len(); n != 1 {
		t.Fatalf("Len after expiry = %d, want 1 (the three expired entries dropped)", n)
	}
}

// TestReplayCacheExpiry drives record directly: entries are dropped exactly after
// their own expiry, in expiry order whatever the order they came in.
func TestReplayCacheExpiry(t *testing.T) {
	c := mustReplayCache(t, 10)
	t0 := time.Unix(1_800_000_000, 0)
	// Recorded out of expiry order.
	for i, exp := range []time.Duration{30, 10, 20} {
		if err := c.record("jkt", fmt.Sprint(i), t0.Add(exp*time.Second), t0); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		at      time.Duration
		wantLen int
	}{{10, 3}, {11, 2}, {20, 2}, {21, 1}, {31, 0}} {
		// Recording a jti again both drops what expired and tells what is left.
		now := t0.Add(tt.at * time.Second)
		if err := c.record("probe", fmt.Sprint(tt.at), now, now); err != nil {
			t.Fatal(err)
		}
		if got := c.Len() - 1; got != tt.wantLen {
			t.Errorf("at +%ds: %d entries, want %d", tt.at, got, tt.wantLen)
		}
	}
	// "1" expired at +10s, so it may be recorded again.
	if err := c.record("jkt", "1", t0.Add(time.Hour), t0.Add(time.Minute)); err != nil {
		t.Errorf("re-recording an expired jti: %v", err)
	}
	if err := c.record("jkt", "1", t0.Add(time.Hour), t0.Add(time.Minute)); !errors.Is(err, ErrProofReplayed) {
		t.Errorf("recording it twice: %v, want %v", err, ErrProofReplayed)
	}
}

func TestNewReplayCacheRefusesBadSize(t *testing.T) {
	for _, n := range []int{0, -1} {
		if c, err := NewReplayCache(n); err == nil {
			t.Errorf("NewReplayCache(%d) = %v, want an error", n, c)
		}
	}
}

// TestReplayConcurrent: many goroutines presenting the same proof get exactly one
// acceptance; distinct proofs are all accepted. Run with -race.
func TestReplayConcurrent(t *testing.T) {
	clk := newTestClock()
	v := mustVerifier(t, WithClock(clk.now))
	key := newEdKey(t, "EdDSA")
	same := newCase(t, key, clk.t)
	sameProof := same.spec.proof(t)
	const n = 16
	distinct := make([]string, n)
	for i := range distinct {
		distinct[i] = newCase(t, key, clk.t).spec.proof(t)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted, replayed := 0, 0
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := v.Verify(sameProof, same.req)
			mu.Lock()
			switch {
			case err == nil:
				accepted++
			case errors.Is(err, ErrProofReplayed):
				replayed++
			}
			mu.Unlock()
			if _, err := v.Verify(distinct[i], same.req); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a distinct proof was refused: %v", err)
	}
	if accepted != 1 || replayed != n-1 {
		t.Fatalf("same proof: %d accepted, %d replayed; want 1 and %d", accepted, replayed, n-1)
	}
}
