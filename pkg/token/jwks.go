package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"math/big"

	"github.com/go-json-experiment/json"
)

// JWK is the public part of one key in JWKS form (RFC 7517, RFC 8037).
type JWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// JWKSet is a JWKS document.
type JWKSet struct {
	Keys []JWK `json:"keys"`
}

// PublicJWKs returns the public keys of ks in configuration order. HMAC keys have no
// public part and are left out, so a set of only HMAC keys gives an empty list.
func (ks *KeySet) PublicJWKs() []JWK {
	out := make([]JWK, 0, len(ks.ordered))
	for _, k := range ks.ordered {
		if j, ok := k.jwk(); ok {
			out = append(out, j)
		}
	}
	return out
}

// JWKS returns the JSON JWKS document of ks's public keys: `{"keys": [...]}`, never a
// private part or an HMAC secret.
func (ks *KeySet) JWKS() ([]byte, error) {
	b, err := json.Marshal(JWKSet{Keys: ks.PublicJWKs()})
	if err != nil {
		return nil, fmt.Errorf("encoding JWKS: %w", err)
	}
	return b, nil
}

func (k *Key) jwk() (JWK, bool) {
	enc := base64.RawURLEncoding.EncodeToString
	j := JWK{Kid: k.id, Alg: k.alg, Use: "sig"}
	switch p := k.public.(type) {
	case ed25519.PublicKey:
		j.Kty, j.Crv, j.X = "OKP", "Ed25519", enc(p)
	case *ecdsa.PublicKey:
		ecdh, err := p.ECDH()
		if err != nil {
			return JWK{}, false
		}
		pt := ecdh.Bytes() // 0x04 || X || Y, each 32 bytes for P-256
		j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", enc(pt[1:33]), enc(pt[33:65])
	case *rsa.PublicKey:
		j.Kty, j.N, j.E = "RSA", enc(p.N.Bytes()), enc(big.NewInt(int64(p.E)).Bytes())
	default:
		return JWK{}, false
	}
	return j, true
}
