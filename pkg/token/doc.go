// Package token issues and verifies jwtgate session tokens: signing with a key set
// addressed by kid, RFC 8725 verification, and sealing of the API-key claim.
//
// The package has no HTTP and no gin dependency, so a library user can lift it into
// any program. Everything costly (parsing keys, deriving the seal key, building the
// AES-GCM cipher) happens once, in the constructors; [Verifier.Verify] only checks.
package token
