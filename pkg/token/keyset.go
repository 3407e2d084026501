package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Supported algorithms. The algorithm is a property of the key, never of the token.
const (
	HS256 = "HS256"
	HS384 = "HS384"
	HS512 = "HS512"
	EdDSA = "EdDSA"
	ES256 = "ES256"
	RS256 = "RS256"
)

// MinRSABits is the smallest RSA modulus [ParsePrivateKeyPEM] accepts.
const MinRSABits = 2048

// MaxKeyIDLen is the longest kid a key may have.
const MaxKeyIDLen = 128

// Key is one signing key with its pinned algorithm, addressed by kid.
// A Key is immutable and safe for concurrent use.
type Key struct {
	id     string
	alg    string
	method jwt.SigningMethod // asymmetric keys only; HMAC keys use mac
	sign   any               // the private key (asymmetric keys only)
	verify any               // the public key (asymmetric keys only)
	public crypto.PublicKey
	seal   *sealer // derived from the key material; see WithSealSecret
	fp     string
	mac    *hmacKey // HMAC keys only: pooled, keyed HMAC states
}

// signature signs signingString with the key's pinned algorithm.
func (k *Key) signature(signingString []byte) ([]byte, error) {
	if k.mac != nil {
		return k.mac.sign(signingString), nil
	}
	return k.method.Sign(string(signingString), k.sign)
}

// verifySignature checks sig over signingString with the key's pinned algorithm.
func (k *Key) verifySignature(signingString string, sig []byte) error {
	if k.mac != nil {
		return k.mac.verify(signingString, sig)
	}
	return k.method.Verify(signingString, sig, k.verify)
}

// ID returns the key's kid.
func (k *Key) ID() string { return k.id }

// Alg returns the algorithm pinned to the key.
func (k *Key) Alg() string { return k.alg }

// Public returns the public key, or nil for an HMAC key.
func (k *Key) Public() crypto.PublicKey { return k.public }

// Fingerprint returns a loggable identifier of the key material (see [Fingerprint]);
// API keys have their own, keyed, fingerprint: [KeySet.Fingerprint].
func (k *Key) Fingerprint() string { return k.fp }

// HMACMinLen returns the shortest secret, in bytes, that [NewHMACKey] accepts for
// alg, and whether alg is an HMAC algorithm: the hash output size (RFC 7518
// section 3.2), 32, 48 and 64 bytes for HS256, HS384 and HS512.
func HMACMinLen(alg string) (int, bool) {
	switch alg {
	case HS256:
		return 32, true
	case HS384:
		return 48, true
	case HS512:
		return 64, true
	}
	return 0, false
}

// NewHMACKey returns an HMAC key. alg is HS256, HS384 or HS512 (empty means HS256);
// the secret must be at least as long as the hash output (32, 48 or 64 bytes).
// An empty kid is replaced by one derived from the secret.
func NewHMACKey(kid, alg string, secret []byte) (*Key, error) {
	if alg == "" {
		alg = HS256
	}
	min, ok := HMACMinLen(alg)
	if !ok {
		return nil, fmt.Errorf("%w: %q is not an HMAC algorithm", ErrAlgUnsupported, alg)
	}
	if len(secret) < min {
		return nil, fmt.Errorf("%w: %s needs at least %d bytes, got %d", ErrKeyTooShort, alg, min, len(secret))
	}
	fp := Fingerprint(string(secret))
	if kid == "" {
		kid = "hs-" + fp
	}
	if err := CheckKeyID(kid); err != nil {
		return nil, err
	}
	s, err := newSealer(secret)
	if err != nil {
		return nil, err
	}
	// The secret lives only in the keyed HMAC states (newHMACStates copies it).
	return &Key{id: kid, alg: alg, seal: s, fp: fp, mac: newHMACStates(alg, secret)}, nil
}

// ParsePrivateKeyPEM returns an asymmetric key from a PKCS#8 PEM block: Ed25519 for
// EdDSA, P-256 for ES256, RSA of at least [MinRSABits] for RS256. An empty alg is
// inferred from the key type.
func ParsePrivateKeyPEM(kid, alg string, pemBytes []byte) (*Key, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: want a PKCS#8 \"PRIVATE KEY\" PEM block", ErrKeyInvalid)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: parsing PKCS#8: %w", ErrKeyInvalid, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok { // X25519 and other key-agreement keys sign nothing
		return nil, fmt.Errorf("%w: unsupported private key type %T", ErrKeyInvalid, priv)
	}
	return NewPrivateKey(kid, alg, signer)
}

// NewPrivateKey returns an asymmetric key for priv (ed25519.PrivateKey,
// *ecdsa.PrivateKey on P-256, or *rsa.PrivateKey of at least [MinRSABits]).
// An empty alg is inferred from the key type; an empty kid is derived from the public key.
func NewPrivateKey(kid, alg string, priv crypto.Signer) (*Key, error) {
	var want string
	switch p := priv.(type) {
	case ed25519.PrivateKey:
		want = EdDSA
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: ES256 needs a P-256 key", ErrKeyInvalid)
		}
		want = ES256
	case *rsa.PrivateKey:
		if p.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("%w: RSA key has %d bits, need at least %d", ErrKeyTooShort, p.N.BitLen(), MinRSABits)
		}
		want = RS256
	default:
		return nil, fmt.Errorf("%w: unsupported private key type %T", ErrKeyInvalid, priv)
	}
	if alg == "" {
		alg = want
	}
	if alg != want {
		return nil, fmt.Errorf("%w: key is for %s, not %q", ErrAlgUnsupported, want, alg)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding key: %w", ErrKeyInvalid, err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("%w: encoding public key: %w", ErrKeyInvalid, err)
	}
	fp := Fingerprint(string(pubDER))
	if kid == "" {
		kid = strings.ToLower(alg[:2]) + "-" + fp
	}
	if err := CheckKeyID(kid); err != nil {
		return nil, err
	}
	s, err := newSealer(der)
	if err != nil {
		return nil, err
	}
	return &Key{id: kid, alg: alg, method: jwt.GetSigningMethod(alg), sign: priv, verify: priv.Public(),
		public: priv.Public(), seal: s, fp: fp}, nil
}

// CheckKeyID reports whether kid may name a key: 1 to [MaxKeyIDLen] printable
// ASCII characters without spaces, quotes or backslashes, since a kid travels in
// every token header and in log lines. The error wraps [ErrKeyInvalid].
func CheckKeyID(kid string) error {
	ok := kid != "" && len(kid) <= MaxKeyIDLen
	for i := 0; ok && i < len(kid); i++ {
		c := kid[i]
		ok = c > ' ' && c <= '~' && c != '"' && c != '\\'
	}
	if !ok {
		return fmt.Errorf("%w: kid must be 1 to %d printable ASCII characters without spaces, quotes or backslashes", ErrKeyInvalid, MaxKeyIDLen)
	}
	return nil
}

// KeySet is the set of keys a replica signs and verifies with. One key signs; every
// key verifies tokens that carry its kid. A KeySet is immutable and safe for
// concurrent use; a reload builds a new one.
type KeySet struct {
	keys    map[string]*Key
	ordered []*Key
	signing *Key
}

// KeySetOption configures [NewKeySet].
type KeySetOption func(*keySetOptions)

type keySetOptions struct {
	sealSecret []byte
}

// WithSealSecret seals API-key claims under a key derived from secret (at least
// [MinSealSecretLen] bytes) instead of from each signing key, so tokens stay
// openable by any replica that holds the seal secret, whatever key signed them.
func WithSealSecret(secret []byte) KeySetOption {
	return func(o *keySetOptions) { o.sealSecret = append([]byte(nil), secret...) }
}

// NewKeySet returns a key set that signs with the key whose kid is signingKID (empty:
// the first key) and verifies with all of keys. Kids must be unique.
func NewKeySet(signingKID string, keys []*Key, opts ...KeySetOption) (*KeySet, error) {
	var o keySetOptions
	for _, opt := range opts {
		opt(&o)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrKeySetInvalid)
	}
	var shared *sealer
	if o.sealSecret != nil {
		if len(o.sealSecret) < MinSealSecretLen {
			return nil, fmt.Errorf("%w: need at least %d bytes, got %d", ErrSealSecretShort, MinSealSecretLen, len(o.sealSecret))
		}
		var err error
		if shared, err = newSealer(o.sealSecret); err != nil {
			return nil, err
		}
	}
	ks := &KeySet{keys: make(map[string]*Key, len(keys))}
	for _, k := range keys {
		if k == nil {
			return nil, fmt.Errorf("%w: nil key", ErrKeySetInvalid)
		}
		if _, dup := ks.keys[k.id]; dup {
			return nil, fmt.Errorf("%w: duplicate kid %q", ErrKeySetInvalid, k.id)
		}
		if shared != nil {
			c := *k
			c.seal = shared
			k = &c
		}
		ks.keys[k.id] = k
		ks.ordered = append(ks.ordered, k)
	}
	if signingKID == "" {
		ks.signing = ks.ordered[0]
	} else if ks.signing = ks.keys[signingKID]; ks.signing == nil {
		return nil, fmt.Errorf("%w: signing key %q is not in the set", ErrKeySetInvalid, signingKID)
	}
	return ks, nil
}

// Fingerprint returns the fingerprint of an API key that tokens signed by this set
// carry (claim akf, and the default subject): the first 8 bytes of its
// HMAC-SHA256, in hex (16 characters), under a key derived with HKDF-SHA256 from
// the seal secret ([WithSealSecret]; without one, from the signing key).
//
// Keyed, so it reveals nothing about the API key to anyone without the secret (a
// token holder cannot test guesses of a weak key against it), while within a
// deployment the same key always has the same fingerprint, for logs and
// correlation. With a seal secret it survives key rotation; without one, a new
// signing key means new fingerprints.
func (ks *KeySet) Fingerprint(apiKey string) string { return ks.signing.seal.fingerprint(apiKey) }

// SigningKey returns the key new tokens are signed with.
func (ks *KeySet) SigningKey() *Key { return ks.signing }

// Lookup returns the key with the given kid.
func (ks *KeySet) Lookup(kid string) (*Key, bool) {
	k, ok := ks.keys[kid]
	return k, ok
}

// Keys returns the keys in configuration order.
func (ks *KeySet) Keys() []*Key { return append([]*Key(nil), ks.ordered...) }
