package dpop

import "errors"

// Reasons a proof is refused. Every error from [Verifier.Verify] wraps exactly one
// of them, so callers match with errors.Is; none of their texts quotes the proof.
var (
	ErrProofMalformed = errors.New("DPoP proof is malformed")
	ErrProofTyp       = errors.New("DPoP proof typ is not dpop+jwt")
	ErrProofAlg       = errors.New("DPoP proof algorithm is not allowed")
	ErrProofHeader    = errors.New("DPoP proof header has an unsupported critical parameter")
	ErrProofKey       = errors.New("DPoP proof key is missing or not acceptable")
	ErrProofSignature = errors.New("DPoP proof signature is invalid")
	ErrProofJTI       = errors.New("DPoP proof jti is missing or too long")
	ErrProofMethod    = errors.New("DPoP proof htm does not match the request method")
	ErrProofURI       = errors.New("DPoP proof htu does not match the request URI")
	ErrProofIAT       = errors.New("DPoP proof iat is missing or outside the acceptable window")
	ErrProofATH       = errors.New("DPoP proof ath does not match the access token")
	// ErrProofNonce asks the client to retry with the server's nonce: the caller
	// answers 401 with error="use_dpop_nonce" and a DPoP-Nonce header (RFC 9449
	// section 8).
	ErrProofNonce    = errors.New("DPoP proof nonce is missing or stale")
	ErrProofBinding  = errors.New("DPoP proof key does not match the token's binding")
	ErrProofReplayed = errors.New("DPoP proof has been used before")
	// ErrReplayCacheFull refuses a proof that cannot be remembered: the replay cache
	// is at its cap and forgetting a live entry would let that proof be replayed.
	ErrReplayCacheFull = errors.New("DPoP proof cannot be checked for replay now")
)

// ErrKeyUnsupported is returned by [Thumbprint] for a key that no accepted proof
// algorithm uses.
var ErrKeyUnsupported = errors.New("key type is not supported")
