package dpoptest_test

import (
	"net/url"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/dpop"
	"github.com/jwtgate/jwtgate/pkg/dpop/dpoptest"
)

// TestProofsVerify: what the package makes, pkg/dpop accepts, bound to the key's
// thumbprint and to the access token.
func TestProofsVerify(t *testing.T) {
	v, err := dpop.NewVerifier()
	if err != nil {
		t.Fatal(err)
	}
	for name, newKey := range map[string]func() (*dpoptest.Key, error){
		"ES256": dpoptest.NewES256, "EdDSA": dpoptest.NewEd25519, "RS256": func() (*dpoptest.Key, error) { return dpoptest.NewRS256(2048) }} {
		t.Run(name, func(t *testing.T) {
			k, err := newKey()
			if err != nil {
				t.Fatal(err)
			}
			p, err := k.Proof(dpoptest.Claims{HTM: "GET", HTU: "https://gw.example/chat/models", AccessToken: "tok"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.Verify(p, dpop.Request{Method: "GET", URL: &url.URL{Scheme: "https", Host: "gw.example", Path: "/chat/models"},
				AccessToken: "tok", JKT: k.JKT()})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if res.Alg != name || res.JKT != k.JKT() {
				t.Fatalf("result %+v, want alg %s and jkt %s", res, name, k.JKT())
			}
			if _, err := k.Proof(dpoptest.Claims{HTM: "GET"}); err == nil {
				t.Fatal("a proof without htu was made")
			}
		})
	}
}
