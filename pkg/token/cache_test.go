package token

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerifiedCache(t *testing.T) {
	clk := newTestClock()
	k1 := mustHMACKey(t, "k1", HS256, testSecret)
	ks := mustKeySet(t, "k1", k1)
	iss := mustIssuer(t, ks, WithClock(clk.now), WithTTL(time.Minute))
	v := mustVerifier(t, ks, WithClock(clk.now), WithLeeway(0), WithCache(2))
	tok := mustIssue(t, iss, Params{APIKey: testAPIKey}).Token

	first, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if v.cache.lru.Len() != 1 {
		t.Fatalf("cache holds %d entries after one verification, want 1", v.cache.lru.Len())
	}
	second, err := v.Verify(t.Context(), tok)
	if err != nil || second.ID != first.ID || second.String() != first.String() {
		t.Fatalf("second Verify should be a cache hit returning the same claims: %v", err)
	}

	t.Run("tampered token never hits", func(t *testing.T) {
		dot := strings.LastIndexByte(tok, '.')
		for _, bad := range []string{tok + "A", tok[:len(tok)-1], tok[:dot] + "." + strings.Repeat("A", len(tok)-dot-1), " " + tok} {
			if _, err := v.Verify(t.Context(), bad); err == nil {
				t.Errorf("tampered token accepted")
			}
		}
		if v.cache.lru.Len() != 1 {
			t.Errorf("refused tokens were cached")
		}
	})

	t.Run("expired cached token refused", func(t *testing.T) {
		clk.t = clk.t.Add(time.Minute)
		if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrTokenExpired) {
			t.Errorf("cached token after expiry: err = %v, want ErrTokenExpired", err)
		}
	})

	t.Run("not yet valid cached token refused", func(t *testing.T) {
		c := first
		c.NotBefore = clk.t.Add(time.Hour)
		c.ExpiresAt = clk.t.Add(2 * time.Hour)
		v.cache.lru.Add("planted", &c)
		if _, err := v.Verify(t.Context(), "planted"); !errors.Is(err, ErrTokenNotValidYet) {
			t.Errorf("err = %v, want ErrTokenNotValidYet", err)
		}
	})

	t.Run("reload starts empty", func(t *testing.T) {
		clk.t = clk.t.Add(-time.Minute)
		rotated := mustVerifier(t, mustKeySet(t, "k2", mustHMACKey(t, "k2", HS256, []byte(strings.Repeat("2", 32)))),
			WithClock(clk.now), WithCache(2))
		if _, err := rotated.Verify(t.Context(), tok); !errors.Is(err, ErrTokenUnknownKey) {
			t.Errorf("token cached by the old verifier accepted after a reload: %v", err)
		}
	})

	t.Run("bounded", func(t *testing.T) {
		for range 5 {
			if _, err := v.Verify(t.Context(), mustIssue(t, iss, Params{APIKey: testAPIKey}).Token); err != nil {
				t.Fatal(err)
			}
		}
		if n := v.cache.lru.Len(); n != 2 {
			t.Errorf("cache holds %d entries, want its bound 2", n)
		}
	})
}

func TestVerifiedCacheSkipsLargeTokens(t *testing.T) {
	clk := newTestClock()
	ks := mustKeySet(t, "k1", mustHMACKey(t, "k1", HS256, testSecret))
	v := mustVerifier(t, ks, WithClock(clk.now), WithCache(10))
	big := hmacSign(HS256, testSecret, hs256Header, mustJSON(t, with(claimsAt(clk.t), "pad", strings.Repeat("p", 3000))))
	if len(big) <= MaxCachedTokenSize || len(big) > MaxTokenSize {
		t.Fatalf("test token is %d bytes", len(big))
	}
	if _, err := v.Verify(t.Context(), big); err != nil {
		t.Fatal(err)
	}
	if n := v.cache.lru.Len(); n != 0 {
		t.Errorf("token over MaxCachedTokenSize was cached (%d entries)", n)
	}
	if _, err := NewVerifier(ks, "i", "a", WithCache(-1)); err == nil {
		t.Errorf("negative cache size accepted")
	}
}

// TestCachedClaimsCannotBeChanged checks that a caller changing the claims it was
// given changes nothing for the next caller of the same token, and that a cache hit
// still costs no allocation.
func TestCachedClaimsCannotBeChanged(t *testing.T) {
	clk := newTestClock()
	ks := mustKeySet(t, "k1", mustHMACKey(t, "k1", HS256, testSecret))
	iss := mustIssuer(t, ks, WithClock(clk.now))
	v := mustVerifier(t, ks, WithClock(clk.now), WithCache(8))
	tok := mustIssue(t, iss, Params{APIKey: testAPIKey, Subject: "alice"}).Token

	first, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	first.APIKey, first.Subject, first.ExpiresAt = "sk-attacker", "admin", clk.t.Add(24*time.Hour)
	ctx := NewContext(t.Context(), first)
	first.Subject = "changed after NewContext"
	if fromCtx, _ := FromContext(ctx); fromCtx.Subject != "admin" {
		t.Errorf("context claims changed with the caller's copy: %q", fromCtx.Subject)
	}
	again, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if again.APIKey != testAPIKey || again.Subject != "alice" || again.ExpiresAt.Equal(first.ExpiresAt) {
		t.Errorf("the cache handed out claims a caller had changed: %v", again)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("a cache hit allocates %v times, want 0", allocs)
	}
}
