package token

import "errors"

// Reasons a token is refused. Every error from [Verifier.Verify] wraps exactly one of
// them, so callers match with errors.Is and never need to import golang-jwt.
var (
	ErrTokenMalformed         = errors.New("token is malformed")
	ErrTokenTooLarge          = errors.New("token is too large")
	ErrTokenUnknownKey        = errors.New("token key is unknown")
	ErrTokenAlgorithm         = errors.New("token algorithm is not allowed")
	ErrTokenUnsupportedHeader = errors.New("token header is not supported")
	ErrTokenSignatureInvalid  = errors.New("token signature is invalid")
	ErrTokenClaimMissing      = errors.New("token is missing a required claim")
	ErrTokenExpired           = errors.New("token is expired")
	ErrTokenNotValidYet       = errors.New("token is not valid yet")
	ErrTokenIssuedInFuture    = errors.New("token is issued in the future")
	ErrTokenRevoked           = errors.New("token is revoked")
	ErrTokenInvalidIssuer     = errors.New("token has an invalid issuer")
	ErrTokenInvalidAudience   = errors.New("token has an invalid audience")
	ErrTokenAPIKeyInvalid     = errors.New("token has an invalid API key claim")
	ErrTokenLifetime          = errors.New("token lifetime is longer than allowed")
)

// Reasons a token is not issued. Errors from [Issuer.Issue] and [Issuer.Refresh]
// wrap one of them.
var (
	ErrAPIKeyInvalid  = errors.New("API key is invalid")
	ErrTTLInvalid     = errors.New("ttl is invalid")
	ErrSessionTooOld  = errors.New("session is too old to refresh")
	ErrSubjectInvalid = errors.New("subject is invalid")
	ErrJKTInvalid     = errors.New("DPoP key thumbprint is invalid")
)

// ErrAllowedKeyInvalid is wrapped by [ParseAllowedKey]'s errors.
var ErrAllowedKeyInvalid = errors.New("allowed API key entry is invalid")

// Reasons a key or key set is refused by [NewHMACKey], [ParsePrivateKeyPEM] and
// [NewKeySet].
var (
	ErrKeyInvalid      = errors.New("key is invalid")
	ErrKeyTooShort     = errors.New("key is too short")
	ErrAlgUnsupported  = errors.New("algorithm is not supported")
	ErrKeySetInvalid   = errors.New("key set is invalid")
	ErrSealSecretShort = errors.New("seal secret is too short")
)

// Reasons [NewIssuer] and [NewVerifier] refuse to build.
var (
	ErrIssuerAudience = errors.New("issuer and audience are required")
	ErrOptionInvalid  = errors.New("option is invalid")
)

// Reasons limits are refused by [NewLimits], [ParseLimits] and [Limits.Within];
// each comes as a *[LimitError] naming the member.
var (
	ErrLimitsInvalid     = errors.New("limits are invalid")
	ErrLimitAboveCeiling = errors.New("limit is above the ceiling")
)
