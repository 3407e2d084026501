package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/jwtgate/jwtgate/pkg/token"
)

// allowlist holds the SHA-256 digests of the API keys that may open a session.
// Digests are computed once, in [newAllowlist]; a request costs one SHA-256 and a
// constant-time comparison with every entry.
type allowlist struct {
	digests [][sha256.Size]byte
}

// newAllowlist parses entries, each a plain key or "sha256:<64 hex digits>"
// ([token.ParseAllowedKey] owns the format). No entries means every well-formed
// key is allowed. Errors name the entry by position, never by value.
func newAllowlist(entries []string) (*allowlist, error) {
	a := &allowlist{digests: make([][sha256.Size]byte, 0, len(entries))}
	var errs []error
	for i, e := range entries {
		d, err := token.ParseAllowedKey(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("allowed API key %d: %w", i, err))
			continue
		}
		a.digests = append(a.digests, d)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("parsing the API key allowlist: %w", err)
	}
	return a, nil
}

// allows reports whether key is on the list (always true for an empty list). It
// compares the key's digest with every entry in constant time and does not stop at
// a match, so timing tells nothing about which entry, if any, matched.
func (a *allowlist) allows(key string) bool {
	if len(a.digests) == 0 {
		return true
	}
	d := sha256.Sum256([]byte(key))
	match := 0
	for i := range a.digests {
		match |= subtle.ConstantTimeCompare(d[:], a.digests[i][:])
	}
	return match == 1
}
