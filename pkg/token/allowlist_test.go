package token

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestParseAllowedKey(t *testing.T) {
	digest := sha256.Sum256([]byte(testAPIKey))
	hexDigest := hex.EncodeToString(digest[:])
	tests := []struct {
		name    string
		entry   string
		want    [sha256.Size]byte
		wantErr error
	}{
		{"plain key", testAPIKey, digest, nil},
		{"digest", "sha256:" + hexDigest, digest, nil},
		{"digest upper case", "sha256:" + strings.ToUpper(hexDigest), digest, nil},
		{"prefix in another case is a key", "SHA256:" + hexDigest, sha256.Sum256([]byte("SHA256:" + hexDigest)), nil},
		{"empty", "", [sha256.Size]byte{}, ErrAllowedKeyInvalid},
		{"digest too short", "sha256:" + hexDigest[:63], [sha256.Size]byte{}, ErrAllowedKeyInvalid},
		{"digest too long", "sha256:" + hexDigest + "00", [sha256.Size]byte{}, ErrAllowedKeyInvalid},
		{"digest not hex", "sha256:" + strings.Repeat("g", 64), [sha256.Size]byte{}, ErrAllowedKeyInvalid},
		{"prefix alone", "sha256:", [sha256.Size]byte{}, ErrAllowedKeyInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAllowedKey(tt.entry)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("digest = %x, want %x", got, tt.want)
			}
			if rest := strings.TrimPrefix(tt.entry, "sha256:"); err != nil && rest != "" && strings.Contains(err.Error(), rest) {
				t.Errorf("error %q quotes the entry", err)
			}
		})
	}
}
