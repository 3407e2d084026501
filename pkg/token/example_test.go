package token_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jwtgate/jwtgate/pkg/token"
)

// A library user builds a key set, an issuer and a verifier once, then issues and
// verifies tokens on each request.
func Example() {
	key, err := token.NewHMACKey("2026-11", token.HS256, []byte("an example secret of at least 32 bytes"))
	if err != nil {
		panic(err)
	}
	ks, err := token.NewKeySet("2026-11", []*token.Key{key})
	if err != nil {
		panic(err)
	}
	// WithMaxTTL is an Option for both sides; WithTTL only for the issuer, and
	// WithLeeway only for the verifier: given to the other, they do not compile.
	maxTTL := token.WithMaxTTL(30 * time.Minute)
	issuer, err := token.NewIssuer(ks, "my-app", "my-app-chat", maxTTL, token.WithTTL(10*time.Minute))
	if err != nil {
		panic(err)
	}
	verifier, err := token.NewVerifier(ks, "my-app", "my-app-chat", maxTTL, token.WithLeeway(10*time.Second))
	if err != nil {
		panic(err)
	}

	ctx := context.Background()
	tok, err := issuer.Issue(ctx, token.Params{APIKey: "sk-example", Subject: "alice"})
	if err != nil {
		panic(err)
	}
	claims, err := verifier.Verify(ctx, tok.Token)
	if err != nil {
		panic(err)
	}
	fmt.Println(claims.Subject, claims.KeyID, claims.APIKey)
	fmt.Println(claims.ExpiresAt.Sub(claims.IssuedAt))
	// The fingerprint is keyed by the key set: safe to log, the same for every
	// session of the key, and meaningless to anyone without the keys.
	fmt.Println(claims.APIKeyFingerprint == ks.Fingerprint("sk-example"))

	_, err = verifier.Verify(ctx, tok.Token+"x")
	label, desc := token.Reason(err)
	fmt.Println(errors.Is(err, token.ErrTokenSignatureInvalid), label, desc)
	// Output:
	// alice 2026-11 sk-example
	// 10m0s
	// true
	// true signature token signature is invalid
}

// Constructor errors wrap sentinels, so a caller tells a missing setting from a bad
// option with errors.Is.
func ExampleNewVerifier_errors() {
	key, err := token.NewHMACKey("k", token.HS256, []byte("an example secret of at least 32 bytes"))
	if err != nil {
		panic(err)
	}
	ks, err := token.NewKeySet("", []*token.Key{key})
	if err != nil {
		panic(err)
	}
	_, err = token.NewVerifier(ks, "my-app", "")
	fmt.Println(errors.Is(err, token.ErrIssuerAudience))
	_, err = token.NewVerifier(ks, "my-app", "my-app-chat", token.WithLeeway(-time.Hour))
	fmt.Println(errors.Is(err, token.ErrOptionInvalid), err)
	// Output:
	// true
	// true creating verifier: option is invalid: leeway must not be negative
}
