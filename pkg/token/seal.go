package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// sealInfo binds derived seal keys to their purpose, so the same secret used for
// signing never doubles as the encryption key.
const sealInfo = "jwtgate/v1 api-key seal"

// MinSealSecretLen is the shortest seal secret [WithSealSecret] accepts.
const MinSealSecretLen = 32

// sealer encrypts the API-key claim with AES-256-GCM. The AEAD is built once; Seal
// and Open are safe for concurrent use.
type sealer struct {
	aead cipher.AEAD
}

// newSealer derives an AES-256 key from secret with HKDF-SHA256 and builds the AEAD.
func newSealer(secret []byte) (*sealer, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, sealInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("deriving seal key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("building seal cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("building seal cipher: %w", err)
	}
	return &sealer{aead: aead}, nil
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
