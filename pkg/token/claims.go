package token

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// Claims are the verified contents of a jwtgate session token.
//
// APIKey holds the API key in clear once the token is verified; it never appears in
// the output of String, GoString or LogValue, so printing or logging Claims is safe.
//
// Claims are handed out as values: [Verifier.Verify], [FromContext] and the
// middleware give every caller its own copy (Limits is immutable by type), so no
// handler can change what another request sees.
type Claims struct {
	// KeyID is the kid of the key that signed the token.
	KeyID string
	// Issuer is the iss claim.
	Issuer string
	// Audience is the aud claim (jwtgate issues a single audience).
	Audience string
	// Subject is the sub claim: the requested subject, or "apikey:" and the key's
	// fingerprint ([KeySet.Fingerprint]).
	Subject string
	// ID is the jti claim: 128 random bits, unique per token.
	ID string
	// SessionID is the sid claim: 128 random bits, kept across refreshes.
	SessionID string
	// IssuedAt, NotBefore and ExpiresAt are the iat, nbf and exp claims.
	IssuedAt, NotBefore, ExpiresAt time.Time
	// SessionStart is the sst claim: when the session's first token was issued.
	SessionStart time.Time
	// APIKey is the API key the session was created with.
	APIKey string
	// APIKeyFingerprint is the akf claim: the keyed fingerprint of APIKey under the
	// signing key's seal secret, see [KeySet.Fingerprint]. Safe to log.
	APIKeyFingerprint string
	// Limits is the lim claim: what the session may do (zero: no limits). It is
	// set when the session starts and kept by every refresh.
	Limits Limits
	// JKT is the cnf.jkt claim (RFC 9449 section 6.1): the RFC 7638 SHA-256
	// thumbprint of the DPoP key the token is bound to, so that it is accepted
	// only with a proof signed by that key. Empty: the token is not bound (a
	// bearer token). It is set when the session starts and kept by every refresh.
	JKT string
}

// String describes c without the API key.
func (c Claims) String() string {
	return fmt.Sprintf("token.Claims{kid=%q sub=%q sid=%q jti=%q exp=%s akf=%q}",
		c.KeyID, c.Subject, c.SessionID, c.ID, c.ExpiresAt.UTC().Format(time.RFC3339), c.APIKeyFingerprint)
}

// GoString is String, so that %#v does not print the API key either.
func (c Claims) GoString() string { return c.String() }

// LogValue implements slog.LogValuer without the API key.
func (c Claims) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kid", c.KeyID),
		slog.String("sub", c.Subject),
		slog.String("sid", c.SessionID),
		slog.String("jti", c.ID),
		slog.Time("exp", c.ExpiresAt),
		slog.String("api_key_fingerprint", c.APIKeyFingerprint),
	)
}

// Fingerprint returns a short, stable identifier of key material that is safe to
// log: the first 8 bytes of its SHA-256 digest in hex (16 characters). jwtgate
// derives default kids from it ([NewHMACKey], [NewPrivateKey]).
//
// It is unkeyed, so anyone can recompute it: fit for public keys and for secrets
// too long to guess, not for API keys, which may be weak. An API key's fingerprint
// is keyed: see [KeySet.Fingerprint] and [Issuer.Fingerprint].
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:8])
}

// wireHeader is the JOSE header in its fixed shape. It is decoded with unknown
// members refused, so jku, jwk, x5u, x5c and any extension are never acted on: a
// token that carries them is refused. Crit is decoded only to refuse it, since
// jwtgate understands no extension (RFC 7515 section 4.1.11).
type wireHeader struct {
	Alg  string         `json:"alg"`
	Typ  *string        `json:"typ"`
	Kid  *string        `json:"kid"`
	Crit jsontext.Value `json:"crit"`
}

// wireClaims is the payload in its fixed shape. Times are integer NumericDates;
// zero means absent, since a real one is always positive.
type wireClaims struct {
	Iss string         `json:"iss,omitempty"`
	Aud jsontext.Value `json:"aud,omitempty"`
	Sub string         `json:"sub,omitempty"`
	Iat int64          `json:"iat,omitzero"`
	Nbf int64          `json:"nbf,omitzero"`
	Exp int64          `json:"exp,omitzero"`
	Jti string         `json:"jti,omitempty"`
	Sid string         `json:"sid,omitempty"`
	Sst int64          `json:"sst,omitzero"`
	Akf string         `json:"akf,omitempty"`
	Ak  string         `json:"ak,omitempty"`
	Aks string         `json:"aks,omitempty"`
	Lim jsontext.Value `json:"lim,omitempty"` // Limits in their JSON form; absent: none
	Cnf jsontext.Value `json:"cnf,omitempty"` // {"jkt": ...} of a DPoP-bound token, see cnf.go
}
