package token

import (
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"
)

// MaxCachedTokenSize is the longest token the verified-token cache holds. jwtgate's
// own tokens are well under it (about 500 bytes for HS256, 900 for RS256), and the
// bound keeps the cache's memory at about entries x 3 KiB at worst.
const MaxCachedTokenSize = 2 << 10

// DefaultCacheSize is the number of entries [WithCache] is usually given, and the
// default of jwt.verify_cache_size.
const DefaultCacheSize = 10000

// verifiedCache remembers tokens that passed full verification, keyed by the whole
// token string, so a repeat costs a map lookup. Time claims are re-checked on every
// hit. A cache belongs to one Verifier: a reload builds a new Verifier, and with it
// an empty cache, so new keys, revocation instant or claim settings apply at once.
type verifiedCache struct {
	lru *lru.Cache[string, *Claims]
}

func newVerifiedCache(size int) (*verifiedCache, error) {
	c, err := lru.New[string, *Claims](size)
	if err != nil {
		return nil, fmt.Errorf("creating verified-token cache: %w: %w", ErrOptionInvalid, err)
	}
	return &verifiedCache{lru: c}, nil
}

// WithCache keeps up to size verified tokens in memory (default 0: off).
// A hit skips the signature check and decoding but not the exp and nbf checks.
// The cache keeps its own copy of each token's claims; [Verifier.Verify] hands
// every caller a copy of its own, so no handler can change them for another.
func WithCache(size int) VerifierOption {
	return verifierOption(func(o *verifierOptions) { o.cacheSize = size })
}
