package dpop

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultReplayCacheSize is the number of proofs a [ReplayCache] remembers unless
// told otherwise: with the default max age and leeway a proof is remembered for 90
// seconds after its iat, so this is room for over 1,100 proofs a second on one
// replica, in about 5 MB.
const DefaultReplayCacheSize = 100_000

// replayKey identifies a proof in the cache: a hash of the key's thumbprint and the
// jti, so entries have a fixed size whatever the jti's length, and one key's jti
// never collides with another key's. 128 bits are plenty: a collision would only
// refuse a proof, and finding one costs 2^64 work.
type replayKey [16]byte

func newReplayKey(jkt, jti string) replayKey {
	// jkt (43 characters) and jti (at most MaxJTILen) fit the buffer on the stack.
	var buf [64 + MaxJTILen]byte
	b := append(buf[:0], jkt...)
	b = append(b, 0)
	b = append(b, jti...)
	sum := sha256.Sum256(b)
	var k replayKey
	copy(k[:], sum[:])
	return k
}

// ReplayCache remembers the proofs a replica has accepted until they are too old to
// be accepted again, in bounded memory. It is safe for concurrent use, and may be
// shared by several [Verifier] values (for instance across configuration reloads).
//
// At its cap the cache refuses new proofs with [ErrReplayCacheFull] rather than
// forget one that could still be replayed; expired entries are dropped first.
// [Verifier.Verify] records a proof only once every other check has passed,
// [Request.JKT] included, so a caller that verifies the token first and passes its
// cnf.jkt leaves filling the cache to clients holding both a valid bound token and
// its key.
type ReplayCache struct {
	mu      sync.Mutex
	size    int
	seen    map[replayKey]struct{}
	expires expiryHeap
}

// NewReplayCache returns a cache that remembers at most size proofs at a time
// ([DefaultReplayCacheSize] is a good start); size must be positive.
func NewReplayCache(size int) (*ReplayCache, error) {
	if size <= 0 {
		return nil, errors.New("creating replay cache: size must be positive")
	}
	return &ReplayCache{size: size, seen: make(map[replayKey]struct{})}, nil
}

// Len returns the number of proofs remembered now, expired ones not yet dropped
// included; a gauge of it shows how close the cache is to its cap.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// record remembers the proof of key jkt with jti until expires (the last instant
// it could pass the iat check), or refuses it when it is remembered already or the
// cache is full. Entries that expired before now are dropped first.
func (c *ReplayCache) record(jkt, jti string, expires, now time.Time) error {
	k := newReplayKey(jkt, jti)
	c.mu.Lock()
	defer c.mu.Unlock()
	nowNano := now.UnixNano()
	for len(c.expires) > 0 && c.expires[0].at < nowNano {
		delete(c.seen, c.expires[0].key)
		c.expires.pop()
	}
	if n := len(c.seen); n < c.size {
		// One map access: the proof was remembered already when adding it
		// leaves the map's size alone.
		if c.seen[k] = struct{}{}; len(c.seen) == n {
			return ErrProofReplayed
		}
	} else {
		if _, ok := c.seen[k]; ok {
			return ErrProofReplayed
		}
		return fmt.Errorf("%w: %d proofs remembered", ErrReplayCacheFull, c.size)
	}
	c.expires.push(expiry{at: expires.UnixNano(), key: k})
	return nil
}

// expiry is when a remembered proof may be forgotten.
type expiry struct {
	at  int64 // Unix nanoseconds
	key replayKey
}

// expiryHeap is a min-heap on expiry time: proofs arrive in no particular order
// of iat, so a queue in arrival order would not do. It is container/heap's
// algorithm on the concrete type, without boxing each entry in an interface.
type expiryHeap []expiry

// push adds e.
func (h *expiryHeap) push(e expiry) {
	*h = append(*h, e)
	s := *h
	for j := len(s) - 1; j > 0; {
		i := (j - 1) / 2 // parent
		if s[i].at <= s[j].at {
			break
		}
		s[i], s[j] = s[j], s[i]
		j = i
	}
}

// pop removes the earliest entry; h must not be empty.
func (h *expiryHeap) pop() {
	s := *h
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	for i := 0; ; {
		j := 2*i + 1 // left child
		if j >= n {
			break
		}
		if r := j + 1; r < n && s[r].at < s[j].at {
			j = r
		}
		if s[i].at <= s[j].at {
			break
		}
		s[i], s[j] = s[j], s[i]
		i = j
	}
	*h = s
}
