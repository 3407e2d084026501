// Package dpoptest makes DPoP proofs (RFC 9449) as a client does, for tests of
// servers that verify them: a key pair, its RFC 7638 thumbprint, and proofs for
// a method, a URL and optionally an access token and a server nonce.
package dpoptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/jwtgate/jwtgate/pkg/dpop"
)

var enc = base64.RawURLEncoding

// Key is a client's DPoP key pair. It is safe for concurrent use.
type Key struct {
	alg    string
	signer crypto.Signer
	jwk    map[string]string
	jkt    string
}

// NewES256 returns a fresh ECDSA P-256 key (what a browser makes with WebCrypto).
func NewES256() (*Key, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating a P-256 key: %w", err)
	}
	pt, err := k.PublicKey.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encoding the P-256 key: %w", err)
	}
	jwk := map[string]string{"kty": "EC", "crv": "P-256", "x": enc.EncodeToString(pt[1:33]), "y": enc.EncodeToString(pt[33:])}
	return newKey("ES256", k, jwk)
}

// NewRS256 returns a fresh RSA key of bits bits (at least 2048 for jwtgate).
func NewRS256(bits int) (*Key, error) {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("generating an RSA key: %w", err)
	}
	e := big.NewInt(int64(k.PublicKey.E)).Bytes()
	return newKey("RS256", k, map[string]string{"kty": "RSA", "n": enc.EncodeToString(k.PublicKey.N.Bytes()), "e": enc.EncodeToString(e)})
}

// NewEd25519 returns a fresh Ed25519 key, whose proofs name alg EdDSA.
func NewEd25519() (*Key, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating an Ed25519 key: %w", err)
	}
	return newKey("EdDSA", priv, map[string]string{"kty": "OKP", "crv": "Ed25519", "x": enc.EncodeToString(pub)})
}

func newKey(alg string, s crypto.Signer, jwk map[string]string) (*Key, error) {
	jkt, err := dpop.Thumbprint(s.Public())
	if err != nil {
		return nil, err
	}
	return &Key{alg: alg, signer: s, jwk: jwk, jkt: jkt}, nil
}

// JKT returns the key's RFC 7638 SHA-256 thumbprint: what dpop_jkt and a bound
// token's cnf.jkt hold.
func (k *Key) JKT() string { return k.jkt }

// Claims are what one proof says. HTM and HTU are required.
type Claims struct {
	// HTM is the request method.
	HTM string
	// HTU is the request URL, without query and fragment.
	HTU string
	// AccessToken, when set, puts its ath (base64url SHA-256) in the proof.
	AccessToken string
	// ATH, when set, is sent as the ath claim instead of AccessToken's.
	ATH string
	// Nonce, when set, is the server's nonce claim.
	Nonce string
	// JTI is the proof's id; empty: 16 random bytes in base64url.
	JTI string
	// IAT is the issue instant; zero: now.
	IAT time.Time
}

// Proof returns the compact JWS of a proof by k with claims c: header typ
// dpop+jwt, the key's alg and its public jwk.
func (k *Key) Proof(c Claims) (string, error) {
	if c.HTM == "" || c.HTU == "" {
		return "", fmt.Errorf("making a proof: htm and htu are required")
	}
	if c.JTI == "" {
		var b [16]byte
		rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
		c.JTI = enc.EncodeToString(b[:])
	}
	if c.IAT.IsZero() {
		c.IAT = time.Now()
	}
	claims := map[string]any{"jti": c.JTI, "htm": c.HTM, "htu": c.HTU, "iat": c.IAT.Unix()}
	switch {
	case c.ATH != "":
		claims["ath"] = c.ATH
	case c.AccessToken != "":
		claims["ath"] = ATH(c.AccessToken)
	}
	if c.Nonce != "" {
		claims["nonce"] = c.Nonce
	}
	hj, err := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": k.alg, "jwk": k.jwk})
	if err != nil {
		return "", fmt.Errorf("making a proof: %w", err)
	}
	cj, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("making a proof: %w", err)
	}
	si := enc.EncodeToString(hj) + "." + enc.EncodeToString(cj)
	sig, err := k.sign([]byte(si))
	if err != nil {
		return "", fmt.Errorf("signing a proof: %w", err)
	}
	return si + "." + enc.EncodeToString(sig), nil
}

// sign signs the JWS signing input as the key's alg wants: ES256 as r||s (RFC
// 7518 section 3.4), not ASN.1.
func (k *Key) sign(si []byte) ([]byte, error) {
	switch s := k.signer.(type) {
	case *ecdsa.PrivateKey:
		d := sha256.Sum256(si)
		r, ss, err := ecdsa.Sign(rand.Reader, s, d[:])
		if err != nil {
			return nil, err
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		ss.FillBytes(out[32:])
		return out, nil
	case ed25519.PrivateKey:
		return ed25519.Sign(s, si), nil
	case *rsa.PrivateKey:
		d := sha256.Sum256(si)
		return rsa.SignPKCS1v15(rand.Reader, s, crypto.SHA256, d[:])
	}
	return nil, fmt.Errorf("unsupported key %T", k.signer)
}

// SignatureCheck returns a function that checks proof's signature with k's public
// key the least a verifier could: the standard library's verification over the
// signing input (its SHA-256 for ES256 and RS256), with the signature decoded and,
// for ES256, put in ASN.1 beforehand. Benchmarks use it as the floor a whole
// proof check is measured against; it checks nothing else of the proof.
func (k *Key) SignatureCheck(proof string) (func() bool, error) {
	dot := strings.LastIndexByte(proof, '.')
	if dot < 0 {
		return nil, fmt.Errorf("checking a signature: not a compact JWS")
	}
	si := []byte(proof[:dot])
	sig, err := enc.DecodeString(proof[dot+1:])
	if err != nil {
		return nil, fmt.Errorf("checking a signature: %w", err)
	}
	switch pub := k.signer.Public().(type) {
	case *ecdsa.PublicKey:
		if len(sig) != 64 {
			return nil, fmt.Errorf("checking a signature: ES256 signatures are 64 bytes")
		}
		der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
		if err != nil {
			return nil, fmt.Errorf("checking a signature: %w", err)
		}
		return func() bool {
			d := sha256.Sum256(si)
			return ecdsa.VerifyASN1(pub, d[:], der)
		}, nil
	case ed25519.PublicKey:
		return func() bool { return ed25519.Verify(pub, si, sig) }, nil
	case *rsa.PublicKey:
		return func() bool {
			d := sha256.Sum256(si)
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig) == nil
		}, nil
	}
	return nil, fmt.Errorf("checking a signature: unsupported key %T", k.signer)
}

// ATH returns the ath claim for accessToken: the base64url SHA-256 of its ASCII.
func ATH(accessToken string) string {
	h := sha256.Sum256([]byte(accessToken))
	return enc.EncodeToString(h[:])
}
