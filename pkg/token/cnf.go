package token

import (
	"fmt"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/jwtgate/jwtgate/pkg/dpop"
)

// The cnf claim (RFC 7800) of a DPoP-bound token holds one member, jkt (RFC 9449
// section 6.1): the SHA-256 thumbprint of the client's DPoP key. jwtgate issues
// no other confirmation method, so a cnf of any other shape is refused rather
// than ignored: a verifier that skipped a binding it did not understand would
// turn a bound token back into a bearer token.

// wireCnf is the cnf claim in its fixed shape.
type wireCnf struct {
	JKT string `json:"jkt"`
}

// checkJKT reports whether jkt is empty (no binding) or has the form of a
// SHA-256 JWK thumbprint (pkg/dpop owns that rule).
func checkJKT(jkt string) error {
	if jkt != "" && !dpop.ValidThumbprint(jkt) {
		return fmt.Errorf("%w: want 43 characters of base64url (the SHA-256 JWK thumbprint)", ErrJKTInvalid)
	}
	return nil
}

// appendCnf appends the cnf claim binding jkt to b, or returns b unchanged (nil
// for nil) when jkt is empty. jkt has been checked: base64url needs no escaping.
func appendCnf(b []byte, jkt string) []byte {
	if jkt == "" {
		return b
	}
	b = append(b, `{"jkt":"`...)
	b = append(b, jkt...)
	return append(b, `"}`...)
}

// decodeCnf returns the thumbprint of a verified token's cnf claim, "" when the
// claim is absent. Anything but an object holding exactly a valid jkt is refused.
func decodeCnf(raw jsontext.Value) (string, error) {
	if raw == nil {
		return "", nil
	}
	var c wireCnf
	if raw.Kind() != '{' || json.Unmarshal(raw, &c, json.RejectUnknownMembers(true)) != nil {
		return "", fmt.Errorf("%w: the cnf claim is not a DPoP key binding", ErrTokenMalformed)
	}
	if !dpop.ValidThumbprint(c.JKT) {
		return "", fmt.Errorf("%w: the cnf claim's jkt is not a SHA-256 JWK thumbprint", ErrTokenMalformed)
	}
	return c.JKT, nil
}
