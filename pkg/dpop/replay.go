package dpop

import (
	"container/heap"
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
	h := sha256.New()
	h.Write([]byte(jkt))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	var sum [sha256.Size]byte
	var k replayKey
	copy(k[:], h.Sum(sum[:0]))
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
		heap.Pop(&c.expires)
	}
	if _, ok := c.seen[k]; ok {
		return ErrProofReplayed
	}
	if len(c.seen) >= c.size {
		return fmt.Errorf("%w: %d proofs remembered", ErrReplayCacheFull, c.size)
	}
	c.seen[k] = struct{}{}
	heap.Push(&c.expires, expiry{at: expires.UnixNano(), key: k})
	return nil
}

// expiry is when a remembered proof may be forgotten.
type expiry struct {
	at  int64 // Unix nanoseconds
	key replayKey
}

// expiryHeap is a min-heap on expiry time (container/heap): proofs arrive in no
// particular order of iat, so a queue in arrival order would not do.
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
