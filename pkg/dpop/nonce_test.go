package dpop

import (
	"strings"
	"testing"
	"time"
)

const testNonceSecret = "a nonce secret of at least 32 bytes, for tests"

func TestNonceWindows(t *testing.T) {
	const window = time.Minute
	ns := mustNonceSource(t, testNonceSecret, window)
	t0 := time.Unix(1_800_000_000, 0).Truncate(window) // the start of a window
	n := ns.Nonce(t0)
	if !ValidThumbprint(n) { // 43 characters of canonical base64url, like a thumbprint
		t.Fatalf("nonce %q is not 32 bytes of base64url", n)
	}
	for _, tt := range []struct {
		name string
		at   time.Duration
		want bool
	}{
		{"at its start", 0, true},
		{"late in its window", window - time.Nanosecond, true},
		{"in the next window (previous now)", window, true},
		{"at the end of the next window", 2*window - time.Nanosecond, true},
		{"two windows later", 2 * window, false},
		{"much later", time.Hour, false},
		{"in the window before (a clock behind)", -time.Nanosecond, false},
	} {
		if got := ns.Valid(n, t0.Add(tt.at)); got != tt.want {
			t.Errorf("%s: Valid = %v, want %v", tt.name, got, tt.want)
		}
	}
	if ns.Nonce(t0.Add(window-time.Nanosecond)) != n {
		t.Error("the nonce changed within its window")
	}
	if ns.Nonce(t0.Add(window)) == n {
		t.Error("the nonce did not change with the window")
	}
	for _, bad := range []string{"", n[:42], n + "A", strings.ToLower(n), nonCanonicalLast(n)} {
		if ns.Valid(bad, t0) {
			t.Errorf("Valid(%q) = true", bad)
		}
	}
}

// TestNonceReplicas: another source with the same secret (another replica) accepts
// this one's nonces; one with another secret or window does not.
func TestNonceReplicas(t *testing.T) {
	const window = time.Minute
	now := time.Unix(1_800_000_030, 0)
	n := mustNonceSource(t, testNonceSecret, window).Nonce(now)
	if !mustNonceSource(t, testNonceSecret, window).Valid(n, now.Add(window)) {
		t.Error("a replica with the same secret refuses the nonce")
	}
	if mustNonceSource(t, testNonceSecret+"!", window).Valid(n, now) {
		t.Error("a source with another secret accepts the nonce")
	}
	if mustNonceSource(t, testNonceSecret, 2*window).Valid(n, now) {
		t.Error("a source with another window accepts the nonce")
	}
}

// TestNonceOldClock: instants before 1970 (a broken clock) still fall into whole
// windows, so no nonce is accepted for longer than two windows.
func TestNonceOldClock(t *testing.T) {
	ns := mustNonceSource(t, testNonceSecret, time.Minute)
	t0 := time.Unix(-90, 0) // 1:30 before the epoch: the window [-120s, -60s)
	n := ns.Nonce(t0)
	if !ns.Valid(n, time.Unix(-1, 0)) || ns.Valid(n, time.Unix(0, 0)) {
		t.Error("windows before the epoch are not a minute long")
	}
}

func TestNewNonceSourceRefuses(t *testing.T) {
	if _, err := NewNonceSource([]byte(strings.Repeat("s", MinNonceSecretLen-1)), time.Minute); err == nil {
		t.Error("a short secret was accepted")
	}
	if _, err := NewNonceSource([]byte(testNonceSecret), time.Second-1); err == nil {
		t.Error("a window under a second was accepted")
	}
	if _, err := NewNonceSource([]byte(strings.Repeat("s", MinNonceSecretLen)), time.Second); err != nil {
		t.Errorf("the smallest settings were refused: %v", err)
	}
}

// TestVerifyNonceRotation follows one client through the windows: its nonce works
// for two windows, then the proof is refused with ErrProofNonce and the nonce the
// caller hands back makes the retry pass.
func TestVerifyNonceRotation(t *testing.T) {
	const window = time.Minute
	ns := mustNonceSource(t, testNonceSecret, window)
	clk := newTestClock()
	key := newECKey(t)
	v := mustVerifier(t, WithClock(clk.now), WithNonces(ns))
	if v.Nonces() != ns {
		t.Fatal("Nonces() does not return the source")
	}
	nonce := v.Nonces().Nonce(clk.t)
	if got := v.Nonce(); got != nonce {
		t.Fatalf("Nonce() = %q, want the source's nonce of the verifier's clock %q", got, nonce)
	}
	var last Result
	try := func() error {
		c := newCase(t, key, clk.t)
		c.spec.claims["nonce"] = nonce
		var err error
		last, err = v.Verify(c.spec.proof(t), c.req)
		return err
	}
	for _, step := range []time.Duration{0, window / 2, window} {
		clk.t = newTestClock().t.Add(step)
		if err := try(); err != nil {
			t.Fatalf("at +%s: %v", step, err)
		}
		// Within its own window the nonce is current; in the next one it is
		// still accepted, and the result names the nonce to move on to.
		want := ""
		if step == window {
			want = ns.Nonce(clk.t)
			if want == nonce {
				t.Fatal("the nonce did not change with the window")
			}
		}
		if last.NextNonce != want {
			t.Fatalf("at +%s: NextNonce = %q, want %q", step, last.NextNonce, want)
		}
	}
	// The test clock starts a window, so +2 windows is the second window after
	// the nonce's.
	clk.t = newTestClock().t.Add(2 * window)
	checkRefused(t, try(), ErrProofNonce)
	nonce = v.Nonce()
	if err := try(); err != nil {
		t.Fatalf("retry with the new nonce: %v", err)
	}
	if last.NextNonce != "" {
		t.Fatalf("NextNonce = %q after a proof with the current nonce, want none", last.NextNonce)
	}
}

// TestNonceWithoutNonces: a verifier that requires no nonce hands none out.
func TestNonceWithoutNonces(t *testing.T) {
	clk := newTestClock()
	v := mustVerifier(t, WithClock(clk.now))
	if got := v.Nonce(); got != "" {
		t.Fatalf("Nonce() = %q without nonces, want empty", got)
	}
	c := newCase(t, newECKey(t), clk.t)
	c.spec.claims["nonce"] = "anything"
	res, err := v.Verify(c.spec.proof(t), c.req)
	if err != nil {
		t.Fatal(err)
	}
	if res.NextNonce != "" {
		t.Fatalf("NextNonce = %q without nonces, want empty", res.NextNonce)
	}
}
