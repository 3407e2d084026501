package token

import (
	"encoding/base64"
	"fmt"

	"github.com/go-json-experiment/json"
)

// encodedHeader returns the JOSE header jwtgate signs with k, in base64url:
// {"alg":...,"kid":...,"typ":"JWT"}. The issuer writes it into every token, and
// the verifier recognises it without decoding it again.
func encodedHeader(k *Key) (string, error) {
	hdr, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{k.alg, k.id, "JWT"})
	if err != nil {
		return "", fmt.Errorf("encoding header: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(hdr), nil
}

// knownHeaders maps the header jwtgate's issuer writes for each key of ks
// ([encodedHeader]) to the key. Such a header passes every check of
// [Verifier.header] and names its key, so the verifier returns the key for it
// from this map instead of decoding and checking it on every token; any other
// header is decoded and checked in full.
func knownHeaders(ks *KeySet) (map[string]*Key, error) {
	m := make(map[string]*Key, len(ks.ordered))
	for _, k := range ks.ordered {
		h, err := encodedHeader(k)
		if err != nil {
			return nil, err
		}
		m[h] = k
	}
	return m, nil
}
