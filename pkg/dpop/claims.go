package dpop

import (
	"bytes"

	"github.com/go-json-experiment/json"
)

// decodeClaims decodes the proof's claims JSON into c. The strict decoder
// (duplicate names and invalid UTF-8 refused, names matched case-sensitively,
// unknown members ignored) is the rule; plainClaims reads the form nearly every
// client sends, a flat object of the known claims with plain values, without its
// reflection and allocations, and hands anything else to it.
func decodeClaims(b []byte, c *wireClaims) error {
	if plainClaims(string(b), c) {
		return nil
	}
	var err error
	*c, err = strictClaims(b)
	return err
}

// strictClaims decodes b with the strict decoder. It copies b, which may be a
// buffer on its caller's stack: the decoder keeps what it is given.
func strictClaims(b []byte) (wireClaims, error) {
	var c wireClaims
	err := json.Unmarshal(bytes.Clone(b), &c)
	return c, err
}

// plainClaims decodes s into c and reports true when s is a JSON object whose
// members are only the known claims, each at most once, with names and string
// values of printable ASCII without escapes and an iat of 1 to 15 decimal
// digits; whitespace may surround every token. Such a text decodes with the
// strict decoder to exactly the same values, and does not fail there. On false,
// c holds partial values and the caller decodes s with the strict decoder: this
// function refuses nothing by itself.
func plainClaims(s string, c *wireClaims) bool {
	const (
		seenJTI = 1 << iota
		seenHTM
		seenHTU
		seenIAT
		seenATH
		seenNonce
	)
	i := skipSpace(s, 0)
	if i == len(s) || s[i] != '{' {
		return false
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == '}' {
		return skipSpace(s, i+1) == len(s)
	}
	var seen uint
	for {
		name, j, ok := plainString(s, i)
		if !ok {
			return false
		}
		i = skipSpace(s, j)
		if i == len(s) || s[i] != ':' {
			return false
		}
		i = skipSpace(s, i+1)
		var bit uint
		var dst *string
		switch name {
		case "jti":
			bit, dst = seenJTI, &c.JTI
		case "htm":
			bit, dst = seenHTM, &c.HTM
		case "htu":
			bit, dst = seenHTU, &c.HTU
		case "iat":
			bit = seenIAT
		case "ath":
			bit, dst = seenATH, &c.ATH
		case "nonce":
			bit, dst = seenNonce, &c.Nonce
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		if dst == nil {
			c.IAT, i, ok = plainInt(s, i)
		} else {
			*dst, i, ok = plainString(s, i)
		}
		if !ok {
			return false
		}
		i = skipSpace(s, i)
		switch {
		case i == len(s):
			return false
		case s[i] == '}':
			return skipSpace(s, i+1) == len(s)
		case s[i] != ',':
			return false
		}
		i = skipSpace(s, i+1)
	}
}

// skipSpace returns the index of the first byte of s from i on that is not JSON
// whitespace.
func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// plainString reads the JSON string at s[i] when it holds only printable ASCII
// and no escape, returning its value (a substring of s) and the index after it.
func plainString(s string, i int) (string, int, bool) {
	if i == len(s) || s[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			return s[i+1 : j], j + 1, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return "", 0, false
		}
	}
	return "", 0, false
}

// plainInt reads the JSON number at s[i] when it is an integer of 1 to 15
// digits without a leading zero, sign, fraction or exponent (exact in a
// float64), returning it and the index after it.
func plainInt(s string, i int) (float64, int, bool) {
	if i == len(s) || s[i] < '1' || s[i] > '9' {
		return 0, 0, false
	}
	var n int64
	j := i
	for ; j < len(s) && '0' <= s[j] && s[j] <= '9'; j++ {
		if j-i == 15 {
			return 0, 0, false
		}
		n = n*10 + int64(s[j]-'0')
	}
	if j < len(s) && (s[j] == '.' || s[j] == 'e' || s[j] == 'E') {
		return 0, 0, false
	}
	return float64(n), j, true
}
