package token

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// strictJWT is golang-jwt configured as strictly as it can be for jwtgate's
// tokens: only the key set's algorithms (WithValidMethods), each pinned to its
// kid by the key function, strict base64url (WithStrictDecoding), issuer and
// audience required and matched, exp required, iat checked, the verifier's
// default leeway and the tests' clock.
type strictJWT struct {
	parser *jwt.Parser
	keys   map[string]strictKey
}

// strictKey is what golang-jwt verifies a kid's tokens with.
type strictKey struct {
	alg string
	key any // []byte for HMAC, the public key otherwise
}

func newStrictJWT(now func() time.Time, keys map[string]strictKey) *strictJWT {
	var algs []string
	for _, k := range keys {
		algs = append(algs, k.alg)
	}
	return &strictJWT{
		parser: jwt.NewParser(
			jwt.WithValidMethods(algs),
			jwt.WithStrictDecoding(),
			jwt.WithIssuer(testIssuer),
			jwt.WithAudience(testAudience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(DefaultLeeway),
			jwt.WithTimeFunc(now),
		),
		keys: keys,
	}
}

// check returns golang-jwt's reason for refusing raw, or nil.
func (s *strictJWT) check(raw string) error {
	_, err := s.parser.Parse(raw, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		k, ok := s.keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		if tok.Method.Alg() != k.alg {
			return nil, fmt.Errorf("kid %q is pinned to %s, not %s", kid, k.alg, tok.Method.Alg())
		}
		return k.key, nil
	})
	return err
}

// TestNeverAcceptsWhatStrictJWTRefuses runs the refusal tables (the main one and
// the attack rows) through jwtgate's verifier and through golang-jwt configured
// strictly: jwtgate may refuse more (it knows its own claim layout), but it must
// never accept a token golang-jwt refuses. FuzzVerify makes the same check over
// the fuzz corpus (testdata/fuzz/FuzzVerify) and whatever fuzzing finds.
func TestNeverAcceptsWhatStrictJWTRefuses(t *testing.T) {
	clk := newTestClock()
	k1 := mustHMACKey(t, "k1", HS256, testSecret)
	f := newAttackFixture(t)
	for _, set := range []struct {
		name   string
		v      *Verifier
		strict *strictJWT
		rows   []attackRow
	}{
		{
			name:   "refusal table",
			v:      mustVerifier(t, mustKeySet(t, "k1", k1), WithClock(clk.now)),
			strict: newStrictJWT(clk.now, map[string]strictKey{"k1": {HS256, testSecret}}),
			rows:   refusalRows(t, clk.t, k1),
		},
		{
			name: "attack rows",
			v:    mustVerifier(t, f.ks, WithClock(f.clk.now)),
			strict: newStrictJWT(f.clk.now, map[string]strictKey{
				"k1":  {HS256, testSecret},
				"ed1": {EdDSA, f.ed1.Public().(ed25519.PublicKey)},
			}),
			rows: attackRows(t, f),
		},
	} {
		t.Run(set.name, func(t *testing.T) {
			accepted, refusedByBoth := 0, 0
			for _, tt := range set.rows {
				ours := errorOf(set.v.Verify(t.Context(), tt.token))
				theirs := set.strict.check(tt.token)
				switch {
				case ours == nil && theirs != nil:
					t.Errorf("%s: jwtgate accepts a token strict golang-jwt refuses (%v)", tt.name, theirs)
				case ours == nil:
					accepted++
				case theirs != nil:
					refusedByBoth++
				}
			}
			// Neither side may be vacuous: some tokens pass both, and golang-jwt
			// refuses some, so the comparison can fail.
			if accepted == 0 || refusedByBoth == 0 {
				t.Errorf("%d tokens accepted by both, %d refused by both; want some of each", accepted, refusedByBoth)
			}
		})
	}
}

// errorOf returns the error of a two-result call.
func errorOf[T any](_ T, err error) error { return err }

// TestStrictJWTRefuses checks the comparison parser itself: it accepts a token
// jwtgate issued and refuses one for each of the settings that make it strict.
func TestStrictJWTRefuses(t *testing.T) {
	clk := newTestClock()
	ks := mustKeySet(t, "k1", mustHMACKey(t, "k1", HS256, testSecret))
	strict := newStrictJWT(clk.now, map[string]strictKey{"k1": {HS256, testSecret}})
	good := mustIssue(t, mustIssuer(t, ks, WithClock(clk.now), WithPlainAPIKey(true)), Params{APIKey: testAPIKey}).Token
	if err := strict.check(good); err != nil {
		t.Fatalf("a token jwtgate issued: %v", err)
	}
	valid := claimsAt(clk.t)
	sign := func(header string, claims map[string]any) string {
		return hmacSign(HS256, testSecret, header, mustJSON(t, claims))
	}
	for _, tt := range []struct {
		name  string
		token string
		want  error
	}{
		{"other method", hmacSign(HS384, testSecret, `{"alg":"HS384","kid":"k1"}`, mustJSON(t, valid)), jwt.ErrTokenSignatureInvalid},
		{"other issuer", sign(hs256Header, with(valid, "iss", "x")), jwt.ErrTokenInvalidIssuer},
		{"other audience", sign(hs256Header, with(valid, "aud", "x")), jwt.ErrTokenInvalidAudience},
		{"no exp", sign(hs256Header, with(valid, "exp", nil)), jwt.ErrTokenRequiredClaimMissing},
		{"expired", sign(hs256Header, with(valid, "exp", clk.t.Unix()-31)), jwt.ErrTokenExpired},
		{"iat in the future", sign(hs256Header, with(valid, "iat", clk.t.Unix()+31)), jwt.ErrTokenUsedBeforeIssued},
		{"padded signature", good + "=", jwt.ErrTokenMalformed},
	} {
		if err := strict.check(tt.token); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}
