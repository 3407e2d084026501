package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"math/big"
)

// b64 decodes base64url without padding, strictly: padding, characters outside the
// alphabet and non-zero trailing bits are refused, so every byte string has one
// spelling. (Strict decoding still skips CR and LF; the proof's segments are
// checked for them beforehand and every key member's length is checked.)
var b64 = base64.RawURLEncoding.Strict()

// thumbprintLen is the length of a SHA-256 thumbprint in base64url.
var thumbprintLen = b64.EncodedLen(sha256.Size)

// Thumbprint returns the RFC 7638 JWK thumbprint of pub: the base64url SHA-256 of
// its required JWK members in lexicographic order (EC crv, kty, x, y; OKP crv, kty,
// x; RSA e, kty, n). pub is an *ecdsa.PublicKey on P-256, an ed25519.PublicKey or
// an *rsa.PublicKey; anything else is refused with [ErrKeyUnsupported]. It is what
// a bound token's cnf.jkt holds and what [Result.JKT] reports.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k == nil || k.Curve != elliptic.P256() {
			return "", fmt.Errorf("%w: ECDSA keys must be on P-256", ErrKeyUnsupported)
		}
		pt, err := k.Bytes()
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrKeyUnsupported, err)
		}
		return thumbprintEC(b64.EncodeToString(pt[1:33]), b64.EncodeToString(pt[33:])), nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", fmt.Errorf("%w: Ed25519 keys are %d bytes", ErrKeyUnsupported, ed25519.PublicKeySize)
		}
		return thumbprintOKP(b64.EncodeToString(k)), nil
	case *rsa.PublicKey:
		if k == nil || k.N == nil || k.E <= 0 {
			return "", fmt.Errorf("%w: incomplete RSA key", ErrKeyUnsupported)
		}
		e := big.NewInt(int64(k.E)).Bytes()
		return thumbprintRSA(b64.EncodeToString(e), b64.EncodeToString(k.N.Bytes())), nil
	default:
		return "", fmt.Errorf("%w: %T", ErrKeyUnsupported, pub)
	}
}

// The members of each key type's thumbprint input, in RFC 7638's order. The values
// are base64url strings or fixed names, so no JSON escaping is ever needed.

func thumbprintEC(x, y string) string {
	var buf [128]byte
	b := append(buf[:0], `{"crv":"P-256","kty":"EC","x":"`...)
	b = append(b, x...)
	b = append(b, `","y":"`...)
	b = append(b, y...)
	return sum(append(b, `"}`...))
}

func thumbprintOKP(x string) string {
	var buf [96]byte
	b := append(buf[:0], `{"crv":"Ed25519","kty":"OKP","x":"`...)
	b = append(b, x...)
	return sum(append(b, `"}`...))
}

func thumbprintRSA(e, n string) string {
	var buf [768]byte
	b := append(buf[:0], `{"e":"`...)
	b = append(b, e...)
	b = append(b, `","kty":"RSA","n":"`...)
	b = append(b, n...)
	return sum(append(b, `"}`...))
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return b64.EncodeToString(s[:])
}

// ValidThumbprint reports whether s has the form of a SHA-256 JWK thumbprint: 43
// characters of canonical base64url. The dpop_jkt member of a session request is
// checked with it before it is put in a token.
func ValidThumbprint(s string) bool {
	if len(s) != thumbprintLen {
		return false
	}
	var d [sha256.Size]byte
	n, err := b64.Decode(d[:], []byte(s))
	return err == nil && n == sha256.Size
}

// EqualThumbprint reports whether a and b are the same thumbprint, in time that
// depends only on their lengths: the way to compare a proof's [Result.JKT] with a
// token's cnf.jkt.
func EqualThumbprint(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
