package dpop

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// DefaultNonceWindow is how long one server nonce is handed out before the next
// replaces it. A nonce is accepted during its own window and the next, so a client
// holding one has between one and two windows to use it.
const DefaultNonceWindow = 5 * time.Minute

// MinNonceSecretLen is the shortest secret [NewNonceSource] accepts, in bytes.
const MinNonceSecretLen = 32

// MinNonceWindow is the shortest window [NewNonceSource] accepts.
const MinNonceWindow = time.Second

// nonceInfo is the HKDF info that ties the derived key to this use, so the
// configured secret may be one that also serves elsewhere without the MACs meeting.
const nonceInfo = "jwtgate dpop nonce v1"

// NonceSource makes and checks stateless server nonces (RFC 9449 section 8): the
// nonce of a time window is the base64url HMAC-SHA256 of the window's index, under
// a key derived by HKDF-SHA256 from the configured secret. Every replica holding
// the same secret makes the same nonce in the same window and accepts the others',
// without sharing any state. It is safe for concurrent use.
type NonceSource struct {
	key    []byte
	window time.Duration
	last   atomic.Pointer[nonceWindow] // the window asked for most recently
}

// nonceWindow holds the nonces one instant accepts, cached because every request
// needs them: those of window index and of the window before it.
type nonceWindow struct {
	index     int64
	cur, prev string
}

// NewNonceSource returns a NonceSource keyed by secret (at least
// [MinNonceSecretLen] bytes) whose nonces change every window (at least a second;
// [DefaultNonceWindow] is a good start).
func NewNonceSource(secret []byte, window time.Duration) (*NonceSource, error) {
	if len(secret) < MinNonceSecretLen {
		return nil, fmt.Errorf("creating nonce source: secret must be at least %d bytes, got %d", MinNonceSecretLen, len(secret))
	}
	if window < MinNonceWindow {
		return nil, errors.New("creating nonce source: window must be at least a second")
	}
	key, err := hkdf.Key(sha256.New, secret, nil, nonceInfo, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("creating nonce source: deriving the key: %w", err)
	}
	return &NonceSource{key: key, window: window}, nil
}

// Nonce returns the nonce of the window holding now: what the DPoP-Nonce header
// carries, both with a use_dpop_nonce refusal and, when the caller wants clients to
// rotate ahead of a refusal, on successful responses.
func (s *NonceSource) Nonce(now time.Time) string {
	return s.windows(now).cur
}

// Valid reports whether nonce is the nonce of the window holding now or of the
// window before it. The comparison takes constant time.
func (s *NonceSource) Valid(nonce string, now time.Time) bool {
	w := s.windows(now)
	// Both comparisons run whatever the first one says, so the time taken does not
	// tell which window matched.
	cur := hmac.Equal([]byte(nonce), []byte(w.cur))
	prev := hmac.Equal([]byte(nonce), []byte(w.prev))
	return cur || prev
}

// windows returns the nonces of the window holding now and of the one before,
// from the cache when the window is the one asked for last.
func (s *NonceSource) windows(now time.Time) *nonceWindow {
	i := s.index(now)
	if w := s.last.Load(); w != nil && w.index == i {
		return w
	}
	w := &nonceWindow{index: i, cur: s.mac(i), prev: s.mac(i - 1)}
	// Racing stores all hold correct values; the newest window is kept when it can be.
	if old := s.last.Load(); old == nil || old.index < i {
		s.last.Store(w)
	}
	return w
}

// index returns the number of the window holding now.
func (s *NonceSource) index(now time.Time) int64 {
	// Floor division, so instants before 1970 (a broken clock) still fall into
	// windows of the right length.
	n, w := now.UnixNano(), int64(s.window)
	q := n / w
	if n%w < 0 {
		q--
	}
	return q
}

// mac computes the nonce of window i.
func (s *NonceSource) mac(i int64) string {
	m := hmac.New(sha256.New, s.key)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	m.Write(b[:])
	return b64.EncodeToString(m.Sum(nil))
}
