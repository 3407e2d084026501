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
	issuer, _ := token.NewIssuer(ks, "my-app", "my-app-chat", token.WithTTL(10*time.Minute))
	verifier, _ := token.NewVerifier(ks, "my-app", "my-app-chat")

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

	_, err = verifier.Verify(ctx, tok.Token+"x")
	label, desc := token.Reason(err)
	fmt.Println(errors.Is(err, token.ErrTokenSignatureInvalid), label, desc)
	// Output:
	// alice 2026-11 sk-example
	// 10m0s
	// true signature token signature is invalid
}
