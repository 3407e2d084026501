package token

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/jwtgate/jwtgate/internal/bytetable"
)

// b64 decodes base64url without padding, strictly: padding, characters outside the
// alphabet and non-zero trailing bits are all refused. Strict decoding still skips
// CR and LF, which [compactChars] refuses beforehand, so every token has exactly
// one encoding.
var b64 = base64.RawURLEncoding.Strict()

// Verifier checks jwtgate session tokens. It is safe for concurrent use.
//
// Verification follows RFC 8725: the algorithm is pinned to the key named by kid
// and never taken from the token alone, so "none" and algorithm confusion (an HMAC
// token "signed" with a public key) cannot pass; the header may carry only alg, typ
// and kid, so jku, jwk, x5u, x5c and crit are refused rather than ignored; exp, nbf,
// iat, iss and aud are required; and oversized tokens are refused before decoding.
type Verifier struct {
	ks       *KeySet
	issuer   string
	audience string
	o        verifierOptions
	cache    *verifiedCache  // nil: off
	headers  map[string]*Key // the issuer's own headers, known to be valid (header.go)
}

// NewVerifier returns a Verifier that accepts tokens signed by a key in ks.
// Issuer and audience are required; see [WithMaxTTL] (give it the issuer's),
// [WithLeeway], [WithNotBefore], [WithCache] and [WithClock]. Its errors wrap
// [ErrKeySetInvalid], [ErrIssuerAudience] or [ErrOptionInvalid].
func NewVerifier(ks *KeySet, issuer, audience string, opts ...VerifierOption) (*Verifier, error) {
	if ks == nil {
		return nil, fmt.Errorf("creating verifier: %w: nil key set", ErrKeySetInvalid)
	}
	if issuer == "" || audience == "" {
		return nil, fmt.Errorf("creating verifier: %w", ErrIssuerAudience)
	}
	o := defaultVerifierOptions()
	for _, opt := range opts {
		if opt != nil {
			opt.applyVerifier(&o)
		}
	}
	switch {
	case o.leeway < 0:
		return nil, fmt.Errorf("creating verifier: %w: leeway must not be negative", ErrOptionInvalid)
	case o.maxTTL <= 0:
		return nil, fmt.Errorf("creating verifier: %w: max ttl must be positive", ErrOptionInvalid)
	case o.cacheSize < 0:
		return nil, fmt.Errorf("creating verifier: %w: cache size must not be negative", ErrOptionInvalid)
	case o.now == nil:
		return nil, fmt.Errorf("creating verifier: %w: nil clock", ErrOptionInvalid)
	}
	headers, err := knownHeaders(ks)
	if err != nil {
		return nil, fmt.Errorf("creating verifier: %w", err)
	}
	v := &Verifier{ks: ks, issuer: issuer, audience: audience, o: o, headers: headers}
	if o.cacheSize > 0 {
		c, err := newVerifiedCache(o.cacheSize)
		if err != nil {
			return nil, err
		}
		v.cache = c
	}
	return v, nil
}

// KeySet returns the keys the verifier accepts.
func (v *Verifier) KeySet() *KeySet { return v.ks }

// Verify checks raw and returns its claims, with the API key opened. Every error
// wraps one of the ErrToken sentinels and never contains the token or the key.
// The claims are a value: the caller's copy, which nothing it does can change for
// another request (the cache keeps its own, and a hit costs no allocation).
func (v *Verifier) Verify(_ context.Context, raw string) (Claims, error) {
	if len(raw) > MaxTokenSize {
		return Claims{}, fmt.Errorf("%w: over %d bytes", ErrTokenTooLarge, MaxTokenSize)
	}
	if v.cache != nil {
		if c, ok := v.cache.lru.Get(raw); ok {
			if err := v.checkTimes(c.ExpiresAt.Unix(), c.NotBefore.Unix()); err != nil {
				return Claims{}, err
			}
			return *c, nil
		}
	}
	c, err := v.verify(raw)
	if err != nil {
		return Claims{}, err
	}
	if v.cache != nil && len(raw) <= MaxCachedTokenSize {
		v.cache.lru.Add(raw, c)
	}
	return *c, nil
}

// verify is the full check, without the cache.
func (v *Verifier) verify(raw string) (*Claims, error) {
	if !compactChars(raw) {
		return nil, fmt.Errorf("%w: only base64url characters and dots are allowed", ErrTokenMalformed)
	}
	dot1 := strings.IndexByte(raw, '.')
	dot2 := strings.LastIndexByte(raw, '.')
	if dot1 <= 0 || dot2 == dot1 || strings.IndexByte(raw[dot1+1:dot2], '.') >= 0 {
		return nil, fmt.Errorf("%w: want three dot-separated parts", ErrTokenMalformed)
	}

	key, err := v.header(raw[:dot1])
	if err != nil {
		return nil, err
	}
	if dot2 == len(raw)-1 {
		return nil, fmt.Errorf("%w: signature is empty", ErrTokenSignatureInvalid)
	}
	sig, err := b64.DecodeString(raw[dot2+1:])
	if err != nil {
		return nil, fmt.Errorf("%w: signature is not base64url", ErrTokenMalformed)
	}
	if err := key.verifySignature(raw[:dot2], sig); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenSignatureInvalid, err)
	}

	payload, err := b64.DecodeString(raw[dot1+1 : dot2])
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url", ErrTokenMalformed)
	}
	var w wireClaims
	// Unknown claims are ignored (RFC 7519 section 4); duplicate names are refused
	// (the default of this decoder), so no two parsers can read different claims.
	if err := json.Unmarshal(payload, &w); err != nil {
		return nil, fmt.Errorf("%w: payload is not a JSON object of the expected claims", ErrTokenMalformed)
	}
	return v.claims(key, &w)
}

// compactChars reports whether s holds only the base64url alphabet and dots.
// base64's Strict decoding skips CR and LF, so without this check a line break
// inserted into the signature would make another spelling of a valid token, one
// that a cache or a list keyed by the token string does not know.
func compactChars(s string) bool {
	return bytetable.None(s, bytetable.CompactJWS)
}

// header decodes and checks the JOSE header and returns the key it names.
func (v *Verifier) header(seg string) (*Key, error) {
	if key, ok := v.headers[seg]; ok {
		return key, nil
	}
	return v.decodeHeader(seg)
}

// decodeHeader is header's full check, for a header the issuer did not write.
func (v *Verifier) decodeHeader(seg string) (*Key, error) {
	hb, err := b64.DecodeString(seg)
	if err != nil {
		return nil, fmt.Errorf("%w: header is not base64url", ErrTokenMalformed)
	}
	var h wireHeader
	if err := json.Unmarshal(hb, &h, json.RejectUnknownMembers(true)); err != nil {
		if errors.Is(err, json.ErrUnknownName) {
			return nil, fmt.Errorf("%w: only alg, typ and kid are allowed", ErrTokenUnsupportedHeader)
		}
		return nil, fmt.Errorf("%w: header is not a JSON object of the expected members", ErrTokenMalformed)
	}
	if h.Crit != nil {
		return nil, fmt.Errorf("%w: no critical extension is understood", ErrTokenUnsupportedHeader)
	}
	if h.Alg == "" || strings.EqualFold(h.Alg, "none") {
		return nil, fmt.Errorf("%w: unsigned tokens are never accepted", ErrTokenAlgorithm)
	}
	if h.Typ != nil && !strings.EqualFold(*h.Typ, "JWT") {
		return nil, fmt.Errorf("%w: typ must be JWT", ErrTokenUnsupportedHeader)
	}
	if h.Kid == nil || *h.Kid == "" {
		return nil, fmt.Errorf("%w: kid is required", ErrTokenUnknownKey)
	}
	key, ok := v.ks.Lookup(*h.Kid)
	if !ok {
		return nil, ErrTokenUnknownKey
	}
	if h.Alg != key.alg {
		return nil, fmt.Errorf("%w: key %q is pinned to %s", ErrTokenAlgorithm, key.id, key.alg)
	}
	return key, nil
}

// claims checks the decoded payload and builds the Claims.
func (v *Verifier) claims(key *Key, w *wireClaims) (*Claims, error) {
	switch {
	case w.Iss == "", w.Aud == nil, w.Sub == "", w.Jti == "", w.Sid == "", w.Akf == "":
		return nil, fmt.Errorf("%w: iss, aud, sub, jti, sid and akf are required", ErrTokenClaimMissing)
	case w.Exp == 0, w.Nbf == 0, w.Iat == 0, w.Sst == 0:
		return nil, fmt.Errorf("%w: exp, nbf, iat and sst are required", ErrTokenClaimMissing)
	case w.Ak == "" && w.Aks == "":
		return nil, fmt.Errorf("%w: the API key claim is required", ErrTokenClaimMissing)
	case w.Exp < 0, w.Nbf < 0, w.Iat < 0, w.Sst < 0, w.Sst > w.Iat, w.Exp > maxNumericDate, w.Nbf > maxNumericDate, w.Iat > maxNumericDate:
		return nil, fmt.Errorf("%w: time claims are out of range", ErrTokenMalformed)
	case w.Ak != "" && w.Aks != "":
		return nil, fmt.Errorf("%w: both plain and sealed API key claims", ErrTokenMalformed)
	}
	if w.Iss != v.issuer {
		return nil, ErrTokenInvalidIssuer
	}
	if !audienceHas(w.Aud, v.audience) {
		return nil, ErrTokenInvalidAudience
	}

	if err := v.checkTimes(w.Exp, w.Nbf); err != nil {
		return nil, err
	}
	leeway := int64(v.o.leeway / time.Second)
	if w.Iat > v.o.now().Unix()+leeway {
		return nil, ErrTokenIssuedInFuture
	}
	if !v.o.notBefore.IsZero() && w.Iat < v.o.notBefore.Unix() {
		return nil, fmt.Errorf("%w: issued before the configured not-before instant", ErrTokenRevoked)
	}
	// jwtgate never issues a token that lives longer than the maximum TTL, so one
	// that does was made with a signing key outside jwtgate: refused, however
	// valid its signature.
	if w.Exp-w.Iat > int64(v.o.maxTTL/time.Second)+leeway {
		return nil, fmt.Errorf("%w: exp is more than the maximum ttl after iat", ErrTokenLifetime)
	}

	apiKey := w.Ak
	if w.Aks != "" {
		var err error
		if apiKey, err = key.seal.open(w.Aks, w.Jti); err != nil {
			return nil, err
		}
	}
	if CheckAPIKey(apiKey) != nil {
		return nil, fmt.Errorf("%w: not a valid API key", ErrTokenAPIKeyInvalid)
	}
	if subtle.ConstantTimeCompare([]byte(key.seal.fingerprint(apiKey)), []byte(w.Akf)) != 1 {
		return nil, fmt.Errorf("%w: fingerprint does not match", ErrTokenAPIKeyInvalid)
	}
	var lim Limits
	if w.Lim != nil {
		// Strictly, with the rules of POST /sessions: jwtgate never signs a lim it
		// would refuse there, nor an empty one.
		var err error
		if lim, err = ParseLimits(w.Lim); err != nil || lim.IsZero() {
			return nil, fmt.Errorf("%w: the lim claim is not valid limits", ErrTokenMalformed)
		}
	}
	jkt, err := decodeCnf(w.Cnf)
	if err != nil {
		return nil, err
	}
	return &Claims{
		KeyID:             key.id,
		Issuer:            w.Iss,
		Audience:          v.audience,
		Subject:           w.Sub,
		ID:                w.Jti,
		SessionID:         w.Sid,
		IssuedAt:          time.Unix(w.Iat, 0),
		NotBefore:         time.Unix(w.Nbf, 0),
		ExpiresAt:         time.Unix(w.Exp, 0),
		SessionStart:      time.Unix(w.Sst, 0),
		APIKey:            apiKey,
		APIKeyFingerprint: w.Akf,
		Limits:            lim,
		JKT:               jkt,
	}, nil
}

// checkTimes checks exp and nbf against the clock, with the leeway.
func (v *Verifier) checkTimes(exp, nbf int64) error {
	unix := v.o.now().Unix()
	leeway := int64(v.o.leeway / time.Second)
	if unix >= exp+leeway {
		return ErrTokenExpired
	}
	if unix < nbf-leeway {
		return ErrTokenNotValidYet
	}
	return nil
}

// maxNumericDate keeps time arithmetic far from overflow (year 9999).
const maxNumericDate = 253402300799

// audienceHas reports whether aud, a JSON string or array of strings, names want.
func audienceHas(aud []byte, want string) bool {
	// Fast path: a plain JSON string equal to want (no escapes to decode).
	if len(aud) == len(want)+2 && aud[0] == '"' && aud[len(aud)-1] == '"' && string(aud[1:len(aud)-1]) == want {
		return true
	}
	if len(aud) > 0 && aud[0] == '"' {
		var s string
		return json.Unmarshal(aud, &s) == nil && s == want
	}
	var list []string
	if json.Unmarshal(aud, &list) != nil {
		return false
	}
	for _, s := range list {
		if s == want {
			return true
		}
	}
	return false
}
