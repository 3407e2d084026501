package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"io"
	"sync"

	"github.com/golang-jwt/jwt/v5"
)

// hmacKey signs and checks HS256/384/512 signatures with HMAC states keyed once and
// reused: hmac.New (two compression-function calls to key the inner and outer
// hashes) happens per pooled state, not per token. golang-jwt's HMAC method calls
// hmac.New on every Verify; the result is the same, the cost is not.
type hmacKey struct {
	pool sync.Pool // of hash.Hash, keyed
}

func newHMACStates(alg string, secret []byte) *hmacKey {
	var h func() hash.Hash
	switch alg {
	case HS384:
		h = sha512.New384
	case HS512:
		h = sha512.New
	default:
		h = sha256.New
	}
	key := append([]byte(nil), secret...)
	return &hmacKey{pool: sync.Pool{New: func() any { return hmac.New(h, key) }}}
}

// sign returns the MAC of signingString.
func (hk *hmacKey) sign(signingString []byte) []byte {
	m := hk.pool.Get().(hash.Hash)
	defer hk.pool.Put(m)
	m.Reset()
	m.Write(signingString)
	return m.Sum(nil)
}

// sumString appends the MAC of s to dst.
func (hk *hmacKey) sumString(s string, dst []byte) []byte {
	m := hk.pool.Get().(hash.Hash)
	defer hk.pool.Put(m)
	m.Reset()
	io.WriteString(m, s)
	return m.Sum(dst)
}

// verify reports whether sig is the MAC of signingString, in constant time.
func (hk *hmacKey) verify(signingString string, sig []byte) error {
	m := hk.pool.Get().(hash.Hash)
	defer hk.pool.Put(m)
	m.Reset()
	var sum [sha512.Size]byte
	m.Write([]byte(signingString))
	if !hmac.Equal(m.Sum(sum[:0]), sig) {
		return jwt.ErrSignatureInvalid
	}
	return nil
}
