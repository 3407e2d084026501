package token

import "errors"

// reasons maps each refusal sentinel to a short, fixed label for metrics and logs.
// The description sent to clients is the sentinel's own text.
var reasons = []struct {
	err   error
	label string
}{
	{ErrTokenTooLarge, "too_large"},
	{ErrTokenMalformed, "malformed"},
	{ErrTokenUnknownKey, "unknown_key"},
	{ErrTokenAlgorithm, "algorithm"},
	{ErrTokenUnsupportedHeader, "unsupported_header"},
	{ErrTokenSignatureInvalid, "signature"},
	{ErrTokenClaimMissing, "claim_missing"},
	{ErrTokenExpired, "expired"},
	{ErrTokenNotValidYet, "not_valid_yet"},
	{ErrTokenIssuedInFuture, "issued_in_future"},
	{ErrTokenRevoked, "revoked"},
	{ErrTokenInvalidIssuer, "issuer"},
	{ErrTokenInvalidAudience, "audience"},
	{ErrTokenAPIKeyInvalid, "api_key"},
	{ErrTokenLifetime, "lifetime"},
	// Not a verification failure but a refusal of the token all the same: its
	// session can no longer be refreshed.
	{ErrSessionTooOld, "session_too_old"},
}

// Reason returns a short label (for example "expired") and a description safe to
// show a client (for example "token is expired") for an error from [Verifier.Verify].
// Errors that wrap none of the refusal sentinels get "invalid" and "token is invalid".
// The label set is small and fixed, so it is safe to use as a metric label.
func Reason(err error) (label, description string) {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.label, r.err.Error()
		}
	}
	return "invalid", "token is invalid"
}

// Labels returns every label [Reason] can return, for pre-declaring metric series.
func Labels() []string {
	out := make([]string, 0, len(reasons)+1)
	for _, r := range reasons {
		out = append(out, r.label)
	}
	return append(out, "invalid")
}
