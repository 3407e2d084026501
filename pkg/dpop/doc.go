// Package dpop verifies RFC 9449 DPoP proofs: the JWS a client signs with its own
// key for every request, so that a token bound to that key (claim cnf.jkt) is of no
// use to anyone who copies the token without the key.
//
// [Verifier.Verify] makes every check of RFC 9449 section 4.3: one compact JWS of a
// bounded size, typ dpop+jwt, an asymmetric algorithm (ES256, EdDSA or RS256), a
// public-only jwk header of the algorithm's key type, a valid signature, htm and htu
// matching the request (htu after RFC 3986 normalisation), iat within the maximum
// age plus the leeway, ath matching the access token, the server nonce when one is
// required, and a jti not seen before on this replica ([ReplayCache]). It returns the
// key's RFC 7638 thumbprint ([Thumbprint]) for the caller to compare with the token's
// cnf.jkt, or compares it itself when [Request.JKT] is set.
//
// Stateless server nonces ([NonceSource]) are a MAC over a time window, so every
// replica that holds the same secret accepts every replica's nonce.
//
// The package has no HTTP server and no gin dependency: the caller describes the
// request ([Request]) and translates the errors, every one of which wraps exactly one
// sentinel that [Reason] maps to a metric label and a client description.
package dpop
