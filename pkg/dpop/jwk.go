package dpop

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
	"math/big"

	"github.com/go-json-experiment/json/jsontext"
)

// RSA modulus sizes accepted, in bits. Under 2048 bits is too weak (NIST SP
// 800-131A); over 4096 costs verification time for nothing but a flood.
const (
	minRSABits = 2048
	maxRSABits = 4096
)

// wireJWK is the jwk header member. Members other than these (kid, use, key_ops,
// ext, which WebCrypto adds) are ignored; the private members are decoded only to
// learn whether they are there.
type wireJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
	Alg string `json:"alg"`

	// Private key members (RFC 7518 sections 6.2.2, 6.3.2 and 6.4; RFC 8037
	// section 2): a jwk holding any of them, whatever its value, is refused, because
	// RFC 9449 section 4.3 forbids it and a client sending one has leaked its key.
	D   jsontext.Value `json:"d"`
	P   jsontext.Value `json:"p"`
	Q   jsontext.Value `json:"q"`
	DP  jsontext.Value `json:"dp"`
	DQ  jsontext.Value `json:"dq"`
	QI  jsontext.Value `json:"qi"`
	Oth jsontext.Value `json:"oth"`
	K   jsontext.Value `json:"k"`
}

func (w *wireJWK) hasPrivate() bool {
	return w.D != nil || w.P != nil || w.Q != nil || w.DP != nil || w.DQ != nil ||
		w.QI != nil || w.Oth != nil || w.K != nil
}

// publicKey is a checked jwk: the Go key for alg and its RFC 7638 thumbprint.
type publicKey struct {
	key any // *ecdsa.PublicKey, ed25519.PublicKey or *rsa.PublicKey
	jkt string
}

// parseJWK checks that w is a public key of the type alg (canonical: ES256, EdDSA
// or RS256) signs with, in canonical encoding, and returns it with its thumbprint.
// Because every member must be canonical (fixed lengths, no leading zero octets),
// one key has one thumbprint.
func parseJWK(w *wireJWK, alg string) (publicKey, error) {
	if w.hasPrivate() {
		return publicKey{}, fmt.Errorf("%w: jwk holds private key members", ErrProofKey)
	}
	if w.Alg != "" && canonicalAlg(w.Alg) != alg {
		return publicKey{}, fmt.Errorf("%w: jwk alg differs from the header's", ErrProofKey)
	}
	switch alg {
	case algES256:
		return parseEC(w)
	case algEdDSA:
		return parseOKP(w)
	case algRS256:
		return parseRSA(w)
	}
	return publicKey{}, fmt.Errorf("%w: no key type for the algorithm", ErrProofKey)
}

// coordLen is the length of a P-256 coordinate and of an Ed25519 key in base64url.
var coordLen = b64.EncodedLen(32)

func parseEC(w *wireJWK) (publicKey, error) {
	if w.Kty != "EC" || w.Crv != "P-256" {
		return publicKey{}, fmt.Errorf("%w: ES256 needs an EC key on P-256", ErrProofKey)
	}
	// SEC 1 uncompressed point: 0x04 || x || y, each coordinate its full 32 bytes
	// (RFC 7518 section 6.2.1.2 forbids shorter encodings).
	var pt [65]byte
	pt[0] = 4
	if !decodeFixed(pt[1:33], w.X) || !decodeFixed(pt[33:], w.Y) {
		return publicKey{}, fmt.Errorf("%w: x and y must be 32 bytes of base64url each", ErrProofKey)
	}
	k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt[:])
	if err != nil {
		return publicKey{}, fmt.Errorf("%w: the point is not on P-256", ErrProofKey)
	}
	return publicKey{key: k, jkt: thumbprintEC(w.X, w.Y)}, nil
}

func parseOKP(w *wireJWK) (publicKey, error) {
	if w.Kty != "OKP" || w.Crv != "Ed25519" {
		return publicKey{}, fmt.Errorf("%w: EdDSA needs an OKP key on Ed25519", ErrProofKey)
	}
	k := make(ed25519.PublicKey, ed25519.PublicKeySize)
	if !decodeFixed(k, w.X) {
		return publicKey{}, fmt.Errorf("%w: x must be 32 bytes of base64url", ErrProofKey)
	}
	// A string that is no point on the curve fails in ed25519.Verify: Go's
	// crypto/ed25519 has no separate check for it.
	return publicKey{key: k, jkt: thumbprintOKP(w.X)}, nil
}

func parseRSA(w *wireJWK) (publicKey, error) {
	if w.Kty != "RSA" {
		return publicKey{}, fmt.Errorf("%w: RS256 needs an RSA key", ErrProofKey)
	}
	if len(w.N) > b64.EncodedLen(maxRSABits/8) {
		return publicKey{}, fmt.Errorf("%w: RSA key over %d bits", ErrProofKey, maxRSABits)
	}
	if len(w.E) > b64.EncodedLen(4) {
		return publicKey{}, fmt.Errorf("%w: e must be odd, from 3 to 2^31-1", ErrProofKey)
	}
	n, err := b64.DecodeString(w.N)
	if err != nil || len(n) == 0 || n[0] == 0 || len(w.N) != b64.EncodedLen(len(n)) {
		return publicKey{}, fmt.Errorf("%w: n must be base64url without leading zero octets", ErrProofKey)
	}
	e, err := b64.DecodeString(w.E)
	if err != nil || len(e) == 0 || e[0] == 0 || len(w.E) != b64.EncodedLen(len(e)) {
		return publicKey{}, fmt.Errorf("%w: e must be base64url without leading zero octets", ErrProofKey)
	}
	var ev int64
	for _, c := range e {
		ev = ev<<8 | int64(c)
	}
	// An odd exponent from 3 to 2^31-1: what crypto/rsa can use, and never e=1,
	// which would make every "signature" its own message.
	if ev < 3 || ev > 1<<31-1 || ev%2 == 0 {
		return publicKey{}, fmt.Errorf("%w: e must be odd, from 3 to 2^31-1", ErrProofKey)
	}
	nv := new(big.Int).SetBytes(n)
	if bits := nv.BitLen(); bits < minRSABits || bits > maxRSABits {
		return publicKey{}, fmt.Errorf("%w: RSA keys must have %d to %d bits", ErrProofKey, minRSABits, maxRSABits)
	}
	if nv.Bit(0) == 0 {
		return publicKey{}, fmt.Errorf("%w: n must be odd", ErrProofKey)
	}
	return publicKey{key: &rsa.PublicKey{N: nv, E: int(ev)}, jkt: thumbprintRSA(w.E, w.N)}, nil
}

// decodeFixed decodes s, which must be the canonical base64url of exactly
// len(dst) bytes, into dst.
func decodeFixed(dst []byte, s string) bool {
	if len(s) != b64.EncodedLen(len(dst)) {
		return false
	}
	n, err := b64.Decode(dst, []byte(s))
	return err == nil && n == len(dst)
}
