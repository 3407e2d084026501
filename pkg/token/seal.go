package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// sealInfo and fingerprintInfo bind the keys derived from one secret to their
// purpose, so the same secret used for signing never doubles as the encryption
// key or the fingerprint key, and neither derived key reveals the other.
const (
	sealInfo        = "jwtgate/v1 api-key seal"
	fingerprintInfo = "jwtgate/v1 api-key fingerprint"
)

// MinSealSecretLen is the shortest seal secret [WithSealSecret] accepts.
const MinSealSecretLen = 32

// fingerprintLen is the length of an API-key fingerprint: 8 bytes in hex.
const fingerprintLen = 16

// sealer holds what is derived from a seal secret: the AES-256-GCM AEAD that
// encrypts the API-key claim and the HMAC-SHA256 key of API-key fingerprints. Both
// are built once; every method is safe for concurrent use.
type sealer struct {
	aead cipher.AEAD
	fp   *hmacKey // keyed HMAC-SHA256 states for fingerprints
}

// newSealer derives an AES-256 key and a fingerprint key from secret with
// HKDF-SHA256 and builds the AEAD and the HMAC states.
func newSealer(secret []byte) (*sealer, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, sealInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("deriving seal key: %w", err)
	}
	fpKey, err := hkdf.Key(sha256.New, secret, nil, fingerprintInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("deriving fingerprint key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("building seal cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("building seal cipher: %w", err)
	}
	return &sealer{aead: aead, fp: newHMACStates(HS256, fpKey)}, nil
}

// fingerprint returns the API-key fingerprint of apiKey: the first 8 bytes of its
// HMAC-SHA256 under the fingerprint key, in hex (16 characters). Keyed, so a token
// holder, who sees the fingerprint, cannot test guesses of a weak key against it,
// while the same key still has the same fingerprint wherever this secret is used.
func (s *sealer) fingerprint(apiKey string) string {
	var sum [sha256.Size]byte
	return hex.EncodeToString(s.fp.sumString(apiKey, sum[:0])[:fingerprintLen/2])
}

// seal encrypts apiKey under a random nonce, authenticating aad (the token's jti, so
// a sealed claim cannot be moved to another token), and returns base64url(nonce|ct).
func (s *sealer) seal(apiKey, aad string) string {
	ns := s.aead.NonceSize()
	buf := make([]byte, ns, ns+len(apiKey)+s.aead.Overhead())
	rand.Read(buf) // never fails (crypto/rand, Go 1.24+)
	buf = s.aead.Seal(buf, buf, []byte(apiKey), []byte(aad))
	return base64.RawURLEncoding.EncodeToString(buf)
}

// open reverses seal. Any failure, including a claim sealed under another key or for
// another token, is [ErrTokenAPIKeyInvalid].
func (s *sealer) open(sealed, aad string) (string, error) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(sealed)
	if err != nil {
		return "", fmt.Errorf("%w: sealed claim is not base64url", ErrTokenAPIKeyInvalid)
	}
	ns := s.aead.NonceSize()
	if len(raw) < ns+s.aead.Overhead() {
		return "", fmt.Errorf("%w: sealed claim is too short", ErrTokenAPIKeyInvalid)
	}
	pt, err := s.aead.Open(raw[ns:ns], raw[:ns], raw[ns:], []byte(aad))
	if err != nil {
		return "", fmt.Errorf("%w: sealed claim does not open", ErrTokenAPIKeyInvalid)
	}
	return string(pt), nil
}
