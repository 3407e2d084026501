package dpop

import (
	"strings"
	"sync"
)

// A client sends the same JOSE header on every proof of a session (typ, alg and
// its public jwk, encoded the same way each time); only the claims and the
// signature change. Everything parseProof learns from a header (its alg, that it
// passes every header and key check, the parsed public key and its thumbprint)
// depends on the header's bytes alone, so a verifier remembers it for the
// headers of proofs it accepted, keyed by the exact base64url text of the header
// segment: a header that differs in a single character (another key, another
// member, another spelling of the same key) is parsed afresh. For P-256 this
// saves the point decoding and its on-curve check, for RSA the decoding of the
// modulus, and for every key the header's base64 and JSON and the RFC 7638
// thumbprint.

// Bounds of the header cache: the number of headers remembered and the longest
// one (in base64url) worth remembering. A header with a 4096-bit RSA key is about
// 1,050 characters, so the cap is some megabytes at the very worst.
const (
	headerCacheSize = 1024
	maxCachedHeader = 2048
)

// headerCache remembers parsed headers; see above. It is safe for concurrent use:
// a read lock is held for one map lookup.
type headerCache struct {
	mu sync.RWMutex
	m  map[string]cachedHeader
}

// cachedHeader is what a header segment parsed to.
type cachedHeader struct {
	alg string // canonical
	key publicKey
}

func newHeaderCache() *headerCache {
	return &headerCache{m: make(map[string]cachedHeader)}
}

// get returns what the header segment h parsed to, when it is remembered.
func (c *headerCache) get(h string) (cachedHeader, bool) {
	c.mu.RLock()
	e, ok := c.m[h]
	c.mu.RUnlock()
	return e, ok
}

// add remembers that header segment h parsed to e. Call it only once a proof
// with that header has passed its signature check, so that only keys that signed
// something take room. At the cap an arbitrary entry (Go's map iteration order
// is random) makes room: a cache of a thousand clients' keys needs nothing
// cleverer, and a flood of fresh keys only costs its sender a signature each.
func (c *headerCache) add(h string, e cachedHeader) {
	if len(h) > maxCachedHeader {
		return
	}
	h = strings.Clone(h) // not the whole proof it is a part of
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[h]; ok {
		return
	}
	if len(c.m) >= headerCacheSize {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[h] = e
}
