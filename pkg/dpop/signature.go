package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
)

// maxStackSigningInput is the longest signing input verifySignature copies on
// the stack; a longer one is copied to the heap.
const maxStackSigningInput = 1536

// maxSigLen is the longest signature an accepted key makes: RSA with a
// [maxRSABits] modulus (ES256 and Ed25519 signatures are 64 bytes). Longer ones
// are decoded too, to be refused.
const maxSigLen = maxRSABits / 8

// errSignature is the cause wrapped with [ErrProofSignature].
var errSignature = errors.New("the signature does not verify with the proof's jwk")

// verifySignature checks sig over signingInput with key, a key of the type alg
// (canonical) signs with, as JWS wants it (RFC 7518 section 3): ES256 as the
// 64-byte r||s of P-256 over the SHA-256 of the input (an ASN.1 DER signature is
// refused), EdDSA as Ed25519 over the input itself, RS256 as RSASSA-PKCS1-v1_5
// with SHA-256. It calls the standard library directly: golang-jwt's methods
// would turn r and s into big.Ints for crypto/ecdsa to encode them back.
func verifySignature(alg string, key any, signingInput string, sig []byte) error {
	// The input as bytes, copied into a buffer on the stack when it fits (every
	// proof but one with a long htu and a large RSA key).
	var buf [maxStackSigningInput]byte
	msg := append(buf[:0], signingInput...)
	var ok bool
	switch alg {
	case algES256:
		k, _ := key.(*ecdsa.PublicKey)
		if k == nil || len(sig) != 64 {
			return errSignature
		}
		var der [derSigMax]byte
		d := sha256.Sum256(msg)
		ok = ecdsa.VerifyASN1(k, d[:], derSignature(&der, sig))
	case algEdDSA:
		k, _ := key.(ed25519.PublicKey)
		ok = len(k) == ed25519.PublicKeySize && ed25519.Verify(k, msg, sig)
	case algRS256:
		k, _ := key.(*rsa.PublicKey)
		if k == nil {
			return errSignature
		}
		d := sha256.Sum256(msg)
		ok = rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig) == nil
	}
	if !ok {
		return errSignature
	}
	return nil
}

// derSigMax is the longest DER ECDSA signature over P-256: a SEQUENCE of two
// INTEGERs of up to 33 bytes each.
const derSigMax = 2 + 2*(2+33)

// derSignature writes the JOSE r||s signature rs (64 bytes) into dst as the
// ASN.1 DER crypto/ecdsa takes, SEQUENCE { INTEGER r, INTEGER s }, each integer
// minimal (leading zero octets dropped, one 0x00 ahead of a set high bit), as
// crypto/ecdsa encodes r and s itself; r or s zero encodes as INTEGER 0, which
// verification refuses.
func derSignature(dst *[derSigMax]byte, rs []byte) []byte {
	b := append(dst[:0], 0x30, 0)
	b = appendDERInt(b, rs[:32])
	b = appendDERInt(b, rs[32:])
	b[1] = byte(len(b) - 2)
	return b
}

func appendDERInt(b, v []byte) []byte {
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	if v[0]&0x80 != 0 {
		b = append(b, 0x02, byte(len(v)+1), 0)
	} else {
		b = append(b, 0x02, byte(len(v)))
	}
	return append(b, v...)
}
