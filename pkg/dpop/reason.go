package dpop

import "errors"

// reasons maps each refusal sentinel to a short, fixed label for metrics and logs.
// The description sent to clients is the sentinel's own text.
var reasons = []struct {
	err   error
	label string
}{
	{ErrProofMalformed, "dpop_malformed"},
	{ErrProofTyp, "dpop_typ"},
	{ErrProofAlg, "dpop_alg"},
	{ErrProofHeader, "dpop_header"},
	{ErrProofKey, "dpop_key"},
	{ErrProofSignature, "dpop_signature"},
	{ErrProofJTI, "dpop_jti"},
	{ErrProofMethod, "dpop_htm"},
	{ErrProofURI, "dpop_htu"},
	{ErrProofIAT, "dpop_iat"},
	{ErrProofATH, "dpop_ath"},
	{ErrProofNonce, "dpop_nonce"},
	{ErrProofBinding, "dpop_binding"},
	{ErrProofReplayed, "dpop_replayed"},
	{ErrReplayCacheFull, "dpop_replay_cache_full"},
}

// Reason returns a short label (for example "dpop_htu") and a description safe to
// show a client (for example "DPoP proof htu does not match the request URI") for an
// error from [Verifier.Verify]. Errors that wrap none of the refusal sentinels get
// "dpop_invalid" and "DPoP proof is invalid". The label set is small and fixed, so it
// is safe to use as a metric label; neither string ever quotes the proof.
func Reason(err error) (label, description string) {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.label, r.err.Error()
		}
	}
	return "dpop_invalid", "DPoP proof is invalid"
}

// Labels returns every label [Reason] can return, for pre-declaring metric series.
func Labels() []string {
	out := make([]string, 0, len(reasons)+1)
	for _, r := range reasons {
		out = append(out, r.label)
	}
	return append(out, "dpop_invalid")
}
