package token

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestIssueSealsAPIKey(t *testing.T) {
	ks := mustKeySet(t, "", mustHMACKey(t, "k1", HS256, testSecret))
	iss := mustIssuer(t, ks)
	v := mustVerifier(t, ks)
	tok := mustIssue(t, iss, Params{APIKey: testAPIKey})

	header, payload, _ := parts(t, tok.Token)
	for _, s := range []string{header, payload, tok.Token} {
		if strings.Contains(s, testAPIKey) || strings.Contains(s, base64.RawURLEncoding.EncodeToString([]byte(testAPIKey))) {
			t.Fatalf("token reveals the API key: %s", s)
		}
	}
	if !strings.Contains(payload, `"aks":`) || strings.Contains(payload, `"ak":`) {
		t.Errorf("sealed payload should carry aks and not ak: %s", payload)
	}
	if want := `{"alg":"HS256","kid":"k1","typ":"JWT"}`; header != want {
		t.Errorf("header = %s, want %s", header, want)
	}
	c, err := v.Verify(t.Context(), tok.Token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.APIKey != testAPIKey || c.APIKeyFingerprint != testFingerprint(testAPIKey) {
		t.Errorf("claims carry the wrong key or fingerprint")
	}
	if c.Subject != "apikey:"+testFingerprint(testAPIKey) {
		t.Errorf("default subject = %q", c.Subject)
	}
	if len(c.ID) != 32 || len(c.SessionID) != 32 || c.ID == c.SessionID {
		t.Errorf("jti %q / sid %q should be distinct 128-bit hex values", c.ID, c.SessionID)
	}
	if s := c.String() + c.GoString(); strings.Contains(s, testAPIKey) {
		t.Errorf("Claims.String reveals the key: %s", s)
	}
}

func TestIssuePlainAPIKey(t *testing.T) {
	ks := mustKeySet(t, "", mustHMACKey(t, "k1", HS256, testSecret))
	tok := mustIssue(t, mustIssuer(t, ks, WithPlainAPIKey(true)), Params{APIKey: testAPIKey, Subject: "alice"})
	_, payload, _ := parts(t, tok.Token)
	if !strings.Contains(payload, `"ak":"`+testAPIKey+`"`) {
		t.Errorf("plain payload should carry the key in clear: %s", payload)
	}
	c, err := mustVerifier(t, ks).Verify(t.Context(), tok.Token)
	if err != nil || c.APIKey != testAPIKey || c.Subject != "alice" {
		t.Fatalf("Verify = %v, %v", c, err)
	}
}

func TestIssueSealIsRandomPerToken(t *testing.T) {
	ks := mustKeySet(t, "", mustHMACKey(t, "k1", HS256, testSecret))
	iss := mustIssuer(t, ks)
	_, p1, _ := parts(t, mustIssue(t, iss, Params{APIKey: testAPIKey}).Token)
	_, p2, _ := parts(t, mustIssue(t, iss, Params{APIKey: testAPIKey}).Token)
	seal := func(p string) string {
		_, after, _ := strings.Cut(p, `"aks":"`)
		s, _, _ := strings.Cut(after, `"`)
		return s
	}
	if seal(p1) == "" || seal(p1) == seal(p2) {
		t.Errorf("two tokens for the same key share a sealed claim")
	}
}

func TestIssueParams(t *testing.T) {
	clk := newTestClock()
	ks := mustKeySet(t, "", mustHMACKey(t, "k1", HS256, testSecret))
	iss := mustIssuer(t, ks, WithClock(clk.now), WithTTL(10*time.Minute), WithMaxTTL(30*time.Minute))
	tests := []struct {
		name    string
		p       Params
		wantTTL time.Duration
		wantErr error
	}{
		{"default ttl", Params{APIKey: testAPIKey}, 10 * time.Minute, nil},
		{"explicit ttl", Params{APIKey: testAPIKey, TTL: time.Minute}, time.Minute, nil},
		{"ttl capped", Params{APIKey: testAPIKey, TTL: 24 * time.Hour}, 30 * time.Minute, nil},
		{"ttl negative", Params{APIKey: testAPIKey, TTL: -time.Second}, 0, ErrTTLInvalid},
		{"ttl under a second", Params{APIKey: testAPIKey, TTL: time.Millisecond}, 0, ErrTTLInvalid},
		{"key empty", Params{}, 0, ErrAPIKeyInvalid},
		{"key with space", Params{APIKey: "a b"}, 0, ErrAPIKeyInvalid},
		{"key with newline", Params{APIKey: "ab\n"}, 0, ErrAPIKeyInvalid},
		{"key non-ASCII", Params{APIKey: "clé"}, 0, ErrAPIKeyInvalid},
		{"key 512", Params{APIKey: strings.Repeat("k", 512)}, 10 * time.Minute, nil},
		{"key 513", Params{APIKey: strings.Repeat("k", 513)}, 0, ErrAPIKeyInvalid},
		{"subject control char", Params{APIKey: testAPIKey, Subject: "a\x00b"}, 0, ErrSubjectInvalid},
		{"subject too long", Params{APIKey: testAPIKey, Subject: strings.Repeat("s", 257)}, 0, ErrSubjectInvalid},
		{"subject unicode", Params{APIKey: testAPIKey, Subject: "zoë"}, 10 * time.Minute, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := iss.Issue(t.Context(), tt.p)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Issue: err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if tt.p.APIKey != "" && strings.Contains(err.Error(), tt.p.APIKey) {
					t.Errorf("error text contains the API key")
				}
				return
			}
			if got := tok.Claims.ExpiresAt.Sub(tok.Claims.IssuedAt); got != tt.wantTTL {
				t.Errorf("lifetime = %s, want %s", got, tt.wantTTL)
			}
		})
	}
}

func TestRefresh(t *testing.T) {
	clk := newTestClock()
	ks := mustKeySet(t, "", mustHMACKey(t, "k1", HS256, testSecret))
	iss := mustIssuer(t, ks, WithClock(clk.now), WithTTL(10*time.Minute), WithMaxTTL(time.Hour), WithMaxSessionAge(2*time.Hour))
	v := mustVerifier(t, ks, WithClock(clk.now))
	first := mustIssue(t, iss, Params{APIKey: testAPIKey, Subject: "bob"})

	clk.t = clk.t.Add(5 * time.Minute)
	c, err := v.Verify(t.Context(), first.Token)
	if err != nil {
		t.Fatal(err)
	}
	next, err := iss.Refresh(t.Context(), c, 0)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	n, err := v.Verify(t.Context(), next.Token)
	if err != nil {
		t.Fatal(err)
	}
	if n.SessionID != c.SessionID || !n.SessionStart.Equal(c.SessionStart) || n.Subject != "bob" || n.APIKey != testAPIKey {
		t.Errorf("refresh lost session state: %v", n)
	}
	if n.ID == c.ID || !n.IssuedAt.Equal(clk.t) {
		t.Errorf("refresh should give a new jti and iat")
	}

	// Near the end of the session the new token ends with the session.
	clk.t = first.Claims.SessionStart.Add(2*time.Hour - time.Minute)
	late, err := iss.Refresh(t.Context(), c, time.Hour)
	if err != nil {
		t.Fatalf("late Refresh: %v", err)
	}
	if want := first.Claims.SessionStart.Add(2 * time.Hour); !late.Claims.ExpiresAt.Equal(want) {
		t.Errorf("late refresh expires at %s, want session end %s", late.Claims.ExpiresAt, want)
	}

	clk.t = first.Claims.SessionStart.Add(2 * time.Hour)
	if _, err := iss.Refresh(t.Context(), c, 0); !errors.Is(err, ErrSessionTooOld) {
		t.Errorf("Refresh at max session age: err = %v, want ErrSessionTooOld", err)
	}
	if _, err := iss.Refresh(t.Context(), Claims{}, 0); !errors.Is(err, ErrSessionTooOld) {
		t.Errorf("Refresh(Claims{}): err = %v, want ErrSessionTooOld", err)
	}
}

func TestNewIssuerRejectsBadLifetimes(t *testing.T) {
	ks := mustKeySet(t, "", mustHMACKey(t, "k1", HS256, testSecret))
	for _, opts := range [][]IssuerOption{
		{WithTTL(0)},
		{WithTTL(2 * time.Hour), WithMaxTTL(time.Hour)},
		{WithMaxTTL(48 * time.Hour), WithMaxSessionAge(time.Hour)},
	} {
		_, err := NewIssuer(ks, "i", "a", opts...)
		if !errors.Is(err, ErrTTLInvalid) || !errors.Is(err, ErrOptionInvalid) {
			t.Errorf("NewIssuer: err = %v, want ErrTTLInvalid and ErrOptionInvalid", err)
		}
	}
}

// TestConstructorErrors checks that every refusal of NewIssuer and NewVerifier
// wraps a sentinel a caller can test with errors.Is.
func TestConstructorErrors(t *testing.T) {
	ks := mustKeySet(t, "", mustHMACKey(t, "k1", HS256, testSecret))
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"issuer: nil key set", second(NewIssuer(nil, "i", "a")), ErrKeySetInvalid},
		{"issuer: no issuer", second(NewIssuer(ks, "", "a")), ErrIssuerAudience},
		{"issuer: no audience", second(NewIssuer(ks, "i", "")), ErrIssuerAudience},
		{"issuer: nil clock", second(NewIssuer(ks, "i", "a", WithClock(nil))), ErrOptionInvalid},
		{"verifier: nil key set", second(NewVerifier(nil, "i", "a")), ErrKeySetInvalid},
		{"verifier: no issuer", second(NewVerifier(ks, "", "a")), ErrIssuerAudience},
		{"verifier: no audience", second(NewVerifier(ks, "i", "")), ErrIssuerAudience},
		{"verifier: negative leeway", second(NewVerifier(ks, "i", "a", WithLeeway(-time.Second))), ErrOptionInvalid},
		{"verifier: zero max ttl", second(NewVerifier(ks, "i", "a", WithMaxTTL(0))), ErrOptionInvalid},
		{"verifier: negative cache", second(NewVerifier(ks, "i", "a", WithCache(-1))), ErrOptionInvalid},
		{"verifier: nil clock", second(NewVerifier(ks, "i", "a", WithClock(nil))), ErrOptionInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Errorf("err = %v, want %v", tt.err, tt.want)
			}
		})
	}
}

// second returns the error of a constructor's two results.
func second[T any](_ T, err error) error { return err }
