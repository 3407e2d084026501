// Package token issues and verifies jwtgate session tokens: signing with a key set
// addressed by kid, RFC 8725 verification, and sealing of the API-key claim.
//
// The package has no HTTP and no gin dependency, so a library user can lift it into
// any program. Everything costly (parsing keys, deriving the seal and fingerprint
// keys, building the AES-GCM cipher) happens once, in the constructors;
// [Verifier.Verify] only checks. [NewIssuer] and [NewVerifier] take options of their
// own types ([IssuerOption], [VerifierOption]); the two that concern both, [WithClock]
// and [WithMaxTTL], are an [Option] and should be given to both.
//
// # Only jwtgate's own tokens
//
// This is not a general JWT library. A [Verifier] accepts exactly the tokens an
// [Issuer] makes: the header {"alg", "typ": "JWT", "kid"} and nothing else, and the
// claims iss, aud, sub, iat, nbf, exp, jti, sid (session id), sst (session start),
// akf (the API key's keyed fingerprint, see [KeySet.Fingerprint]) and either ak (the
// API key in clear) or aks (the key sealed with AES-256-GCM). Other claims are
// ignored; a token without jwtgate's claims, however validly signed, is refused
// with [ErrTokenClaimMissing], and one that lives longer than the maximum TTL with
// [ErrTokenLifetime].
//
// # Why verification is not jwt.Parse
//
// golang-jwt signs and checks the asymmetric signatures, but [Verifier.Verify]
// decodes and checks the token itself, because jwtgate wants less than a general
// parser allows:
//
//   - A fixed header shape. The header is decoded into a struct that refuses unknown
//     members, so jku, jwk, x5u, x5c and crit are refused rather than ignored, and no
//     code path can ever act on them.
//   - Strict decoding, so every token has exactly one spelling: base64url without
//     padding, line breaks or non-zero trailing bits, JSON without duplicate member
//     names (a general decoder keeps the last one, so two parsers could read two
//     different exp claims), and NumericDates as integers only.
//   - The algorithm pinned per key. The kid selects the key, and the key alone
//     decides the algorithm; golang-jwt's WithValidMethods is one list for all keys,
//     which still lets an HS256 token name an RS256 kid and leaves the key function
//     to notice.
//   - The sealed claim. Opening aks, bound to the token's jti, and checking akf
//     against the key are part of verification, not an afterthought of the caller.
//   - Speed. No map decoding or reflection, keyed HMAC states reused from a pool, and
//     an optional cache of verified tokens ([WithCache]): a repeat costs a lookup.
//
// The package's tests check that this never makes jwtgate more lenient: no token
// that golang-jwt, configured strictly (valid methods, strict decoding, issuer,
// audience, expiration required), refuses is accepted here.
package token
