package token

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// AllowedKeyDigestPrefix starts an API-key allowlist entry that is the hex SHA-256
// digest of a key rather than the key itself: "sha256:" and 64 hex digits, so a
// configuration can name a key without holding it.
const AllowedKeyDigestPrefix = "sha256:"

// ParseAllowedKey returns the SHA-256 digest an API-key allowlist entry stands for:
// the one an [AllowedKeyDigestPrefix] entry spells (hex digits in either case), or
// the digest of any other entry, which is a key itself. An empty entry, and a
// "sha256:" entry without exactly 64 hex digits after it, are refused with an
// error that wraps [ErrAllowedKeyInvalid] and never contains the entry.
//
// It is the one definition of the allowlist format: configuration checks entries
// with it and the server builds its allowlist with it.
func ParseAllowedKey(entry string) ([sha256.Size]byte, error) {
	if entry == "" {
		return [sha256.Size]byte{}, fmt.Errorf("%w: must not be empty", ErrAllowedKeyInvalid)
	}
	digest, ok := strings.CutPrefix(entry, AllowedKeyDigestPrefix)
	if !ok {
		return sha256.Sum256([]byte(entry)), nil
	}
	raw, err := hex.DecodeString(digest)
	if err != nil || len(raw) != sha256.Size {
		return [sha256.Size]byte{}, fmt.Errorf("%w: a %s entry needs exactly %d hex digits, got %d characters",
			ErrAllowedKeyInvalid, AllowedKeyDigestPrefix, 2*sha256.Size, len(digest))
	}
	return [sha256.Size]byte(raw), nil
}
