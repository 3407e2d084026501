package token

import (
	"errors"
	"strings"
	"testing"
)

// testJKT is RFC 7638's example thumbprint (section 3.1): a valid cnf.jkt.
const testJKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

// TestIssueBindsAndRefreshKeeps: a session bound at Issue carries cnf.jkt in its
// token, the verifier reads it back, and every refresh keeps it; an unbound
// session carries no cnf at all.
func TestIssueBindsAndRefreshKeeps(t *testing.T) {
	clk := newTestClock()
	ks := mustKeySet(t, "k1", mustHMACKey(t, "k1", HS256, testSecret))
	iss := mustIssuer(t, ks, WithClock(clk.now))
	v := mustVerifier(t, ks, WithClock(clk.now))

	bound := mustIssue(t, iss, Params{APIKey: testAPIKey, JKT: testJKT})
	if bound.Claims.JKT != testJKT {
		t.Fatalf("issued claims JKT = %q, want %q", bound.Claims.JKT, testJKT)
	}
	_, payload, _ := parts(t, bound.Token)
	if !strings.Contains(payload, `"cnf":{"jkt":"`+testJKT+`"}`) {
		t.Fatalf("payload %s lacks the cnf claim", payload)
	}
	c, err := v.Verify(t.Context(), bound.Token)
	if err != nil {
		t.Fatal(err)
	}
	if c.JKT != testJKT {
		t.Fatalf("verified JKT = %q, want %q", c.JKT, testJKT)
	}
	r, err := iss.Refresh(t.Context(), c, 0)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := v.Verify(t.Context(), r.Token)
	if err != nil {
		t.Fatal(err)
	}
	if rc.JKT != testJKT || r.Claims.JKT != testJKT {
		t.Fatalf("refreshed JKT = %q (claims %q), want %q", rc.JKT, r.Claims.JKT, testJKT)
	}

	plain := mustIssue(t, iss, Params{APIKey: testAPIKey})
	if _, payload, _ := parts(t, plain.Token); strings.Contains(payload, "cnf") {
		t.Fatalf("unbound token has a cnf claim: %s", payload)
	}
	pc, err := v.Verify(t.Context(), plain.Token)
	if err != nil {
		t.Fatal(err)
	}
	if pc.JKT != "" {
		t.Fatalf("unbound token verified with JKT %q", pc.JKT)
	}
	pr, err := iss.Refresh(t.Context(), pc, 0)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Claims.JKT != "" {
		t.Fatalf("refresh bound an unbound session to %q", pr.Claims.JKT)
	}
}

// TestIssueRefusesBadJKT: Issue and Refresh sign only thumbprints of the right
// form; the mended value of each row is issued.
func TestIssueRefusesBadJKT(t *testing.T) {
	clk := newTestClock()
	ks := mustKeySet(t, "k1", mustHMACKey(t, "k1", HS256, testSecret))
	iss := mustIssuer(t, ks, WithClock(clk.now))
	for _, jkt := range []string{
		"short",
		testJKT + "A",                 // 44 characters
		testJKT[:42] + "+",            // not base64url
		testJKT[:42] + "t",            // non-canonical last character (trailing bits set)
		testJKT[:42] + "=",            // padding
		`"` + testJKT[1:],             // a quote would break the claim
		strings.Repeat("A", 43) + " ", // a space
	} {
		if _, err := iss.Issue(t.Context(), Params{APIKey: testAPIKey, JKT: jkt}); !errors.Is(err, ErrJKTInvalid) {
			t.Errorf("Issue with jkt %q: %v, want ErrJKTInvalid", jkt, err)
		}
		c := Claims{SessionID: "s", SessionStart: clk.t, APIKey: testAPIKey, Subject: "x", JKT: jkt}
		if _, err := iss.Refresh(t.Context(), c, 0); !errors.Is(err, ErrJKTInvalid) {
			t.Errorf("Refresh with jkt %q: %v, want ErrJKTInvalid", jkt, err)
		}
	}
	if _, err := iss.Issue(t.Context(), Params{APIKey: testAPIKey, JKT: testJKT}); err != nil {
		t.Fatalf("the mended jkt: %v", err)
	}
}

// TestVerifyCnfStrictly: a cnf claim of any shape but {"jkt": <thumbprint>} is
// refused, so no binding is ever read as "unbound"; the control of each row is
// the valid cnf.
func TestVerifyCnfStrictly(t *testing.T) {
	clk := newTestClock()
	ks := mustKeySet(t, "k1", mustHMACKey(t, "k1", HS256, testSecret))
	v := mustVerifier(t, ks, WithClock(clk.now))
	valid := claimsAt(clk.t)
	sign := func(payload string) string { return hmacSign(HS256, testSecret, hs256Header, payload) }
	withCnf := func(cnf string) string {
		p := mustJSON(t, valid)
		return sign(p[:len(p)-1] + `,"cnf":` + cnf + `}`)
	}

	c, err := v.Verify(t.Context(), withCnf(`{"jkt":"`+testJKT+`"}`))
	if err != nil {
		t.Fatalf("the valid cnf: %v", err)
	}
	if c.JKT != testJKT {
		t.Fatalf("JKT = %q, want %q", c.JKT, testJKT)
	}
	for _, cnf := range []string{
		`null`,
		`"` + testJKT + `"`,
		`["` + testJKT + `"]`,
		`{}`,
		`{"jkt":null}`,
		`{"jkt":""}`,
		`{"jkt":1}`,
		`{"jkt":"short"}`,
		`{"jkt":"` + testJKT + `A"}`,
		`{"JKT":"` + testJKT + `"}`,
		`{"jkt":"` + testJKT + `","x5t#S256":"` + testJKT + `"}`,
		`{"jwk":{"kty":"OKP","crv":"Ed25519","x":"AAAA"}}`,
		`{"jkt":"` + testJKT + `","jkt":"` + testJKT + `"}`,
	} {
		if _, err := v.Verify(t.Context(), withCnf(cnf)); !errors.Is(err, ErrTokenMalformed) {
			t.Errorf("cnf %s: %v, want ErrTokenMalformed", cnf, err)
		}
	}
}
