package dpop

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/jwtgate/jwtgate/internal/bytetable"
)

// The accepted algorithms, by their canonical names.
const (
	algES256 = "ES256"
	algEdDSA = "EdDSA"
	algRS256 = "RS256"
)

// canonicalAlg returns the canonical name of an accepted JWS algorithm, or "" for
// any other: none, the HMAC algorithms (a verifier holds no secret shared with the
// client, and an HMAC "keyed" by the public jwk proves nothing) and everything else.
// Names are case-sensitive (RFC 7515 section 4.1.1). Ed25519 is RFC 9864's
// fully-specified name for EdDSA over Ed25519, the only EdDSA curve accepted.
func canonicalAlg(alg string) string {
	switch alg {
	case "ES256":
		return algES256
	case "EdDSA", "Ed25519":
		return algEdDSA
	case "RS256":
		return algRS256
	}
	return ""
}

// Verifier checks DPoP proofs (RFC 9449 section 4.3). It is safe for concurrent use.
//
// A proof is accepted when it is a compact JWS of at most [MaxProofSize] bytes,
// canonical base64url, whose header has typ dpop+jwt (or application/dpop+jwt, in
// any case, as RFC 7515 allows), alg ES256, EdDSA (or Ed25519) or RS256, a jwk
// holding only the public members of a key of that algorithm (P-256, Ed25519, or
// RSA of 2048 to 4096 bits with an odd exponent), and no crit (no extension is
// understood; other header parameters are ignored, as RFC 7515 says); whose
// signature verifies with that jwk; and whose claims hold a jti of 1 to [MaxJTILen]
// bytes, htm equal to the request method, htu equal to the request URI once both
// are normalised (scheme and host case, default port, percent-encoding and dot
// segments; htu must carry no query or fragment, the request's are ignored; ws
// and wss count as http and https), iat from the leeway ahead of now to max age
// plus leeway behind it, ath the base64url SHA-256 of the access token when the
// request has one, and a current nonce when nonces are required. Last, its jti
// must not have been seen with the same key while it could still be accepted.
// Duplicate JSON member names and invalid UTF-8 are refused everywhere, so no two
// parsers can read one proof two ways.
type Verifier struct {
	o       options
	headers *headerCache // the headers of accepted proofs, parsed (headercache.go)
}

// NewVerifier returns a Verifier; see [WithMaxAge], [WithLeeway], [WithClock],
// [WithReplayCache] and [WithNonces].
func NewVerifier(opts ...Option) (*Verifier, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.now == nil:
		return nil, errors.New("creating DPoP verifier: clock must not be nil")
	case o.maxAge <= 0:
		return nil, errors.New("creating DPoP verifier: max age must be positive")
	case o.leeway < 0:
		return nil, errors.New("creating DPoP verifier: leeway must not be negative")
	}
	if o.replay == nil {
		c, err := NewReplayCache(DefaultReplayCacheSize)
		if err != nil {
			return nil, fmt.Errorf("creating DPoP verifier: %w", err)
		}
		o.replay = c
	}
	return &Verifier{o: o, headers: newHeaderCache()}, nil
}

// Nonces returns the nonce source the verifier requires nonces from, or nil when it
// requires none; the caller asks it for the DPoP-Nonce header value.
func (v *Verifier) Nonces() *NonceSource { return v.o.nonces }

// Nonce returns the nonce of the current window by the verifier's clock ([WithClock]),
// the DPoP-Nonce header value that goes with a refusal for [ErrProofNonce]; "" when
// the verifier requires no nonces.
func (v *Verifier) Nonce() string {
	if v.o.nonces == nil {
		return ""
	}
	return v.o.nonces.Nonce(v.o.now())
}

// Request describes the HTTP request a proof came with, as the server received it.
type Request struct {
	// Method is the request method, compared with htm exactly (methods are
	// case-sensitive).
	Method string
	// URL is the URI the client addressed: Scheme, Host (with the port, if any)
	// and the path (EscapedPath) are compared with htu; the query, fragment and
	// userinfo are ignored. Behind a TLS-terminating proxy the caller sets Scheme
	// and Host from X-Forwarded-Proto and X-Forwarded-Host only when the proxy is
	// trusted; this package cannot tell.
	URL *url.URL
	// AccessToken is the token the request presents (Authorization: DPoP), whose
	// SHA-256 the proof's ath must hold. Empty when there is none, as at POST
	// /sessions: ath is then not required and not looked at.
	AccessToken string
	// JKT, when not empty, is the thumbprint the proof's key must have: a bound
	// token's cnf.jkt. A proof by another key is refused with [ErrProofBinding]
	// before it is recorded in the replay cache. Empty: not checked here (the
	// caller compares [Result.JKT] itself, with [EqualThumbprint]).
	JKT string
	// Now is the instant to check iat, the nonce and the replay cache against;
	// the zero time means the verifier's clock ([WithClock], else time.Now).
	Now time.Time
}

// Result is what an accepted proof tells.
type Result struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the proof's key, for cnf.jkt.
	JKT string
	// JTI is the proof's jti, unique per key within the window.
	JTI string
	// IssuedAt is the proof's iat.
	IssuedAt time.Time
	// Alg is the proof's algorithm by its canonical name: ES256, EdDSA (for
	// EdDSA and Ed25519 alike) or RS256.
	Alg string
	// NextNonce is the nonce of the current window when the proof carried the
	// previous window's (still accepted): the caller sends it in a DPoP-Nonce header
	// of its successful answer, so the client moves on before its nonce goes stale
	// (RFC 9449 section 8.2). Empty when the proof's nonce is current or the
	// verifier requires none.
	NextNonce string
}

// Verify checks proof, the value of a DPoP header, against req, and records its
// jti in the replay cache once every other check has passed. Every error wraps
// exactly one of the ErrProof sentinels or [ErrReplayCacheFull], and none contains
// the proof, the token or the key.
func (v *Verifier) Verify(proof string, req Request) (Result, error) {
	now := req.Now
	if now.IsZero() {
		now = v.o.now()
	}
	// The signature is decoded into a buffer on the stack, a variable apart
	// from p, whose key goes into the header cache.
	var buf [maxSigLen]byte
	p, sig, err := parseProofWith(proof, v.headers, buf[:0])
	if err != nil {
		return Result{}, err
	}
	iat, err := v.checkClaims(&p.claims, req, now)
	if err != nil {
		return Result{}, err
	}
	if req.JKT != "" && !EqualThumbprint(p.key.jkt, req.JKT) {
		return Result{}, ErrProofBinding
	}
	// The cheap checks come first, so a proof refused anyway costs no signature
	// verification.
	if err := verifySignature(p.alg, p.key.key, p.signingInput, sig); err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrProofSignature, err)
	}
	if !p.cached {
		v.headers.add(p.header, cachedHeader{alg: p.alg, key: p.key})
	}
	// The proof cannot pass the iat check after this instant, so it need not be
	// remembered longer.
	expires := iat.Add(v.o.maxAge + v.o.leeway)
	if err := v.o.replay.record(p.key.jkt, p.claims.JTI, expires, now); err != nil {
		return Result{}, err
	}
	res := Result{JKT: p.key.jkt, JTI: p.claims.JTI, IssuedAt: iat, Alg: p.alg}
	if v.o.nonces != nil {
		if cur := v.o.nonces.Nonce(now); p.claims.Nonce != cur {
			res.NextNonce = cur
		}
	}
	return res, nil
}

// checkClaims checks the claims against the request and returns iat.
func (v *Verifier) checkClaims(c *wireClaims, req Request, now time.Time) (time.Time, error) {
	if c.JTI == "" || len(c.JTI) > MaxJTILen {
		return time.Time{}, fmt.Errorf("%w: want 1 to %d bytes", ErrProofJTI, MaxJTILen)
	}
	if c.HTM == "" || c.HTM != req.Method {
		return time.Time{}, ErrProofMethod
	}
	if c.HTU == "" {
		return time.Time{}, fmt.Errorf("%w: htu is missing", ErrProofURI)
	}
	if match, ok := matchPlainTarget(c.HTU, req.URL); !ok || !match {
		if err := checkHTU(c.HTU, req.URL); err != nil {
			return time.Time{}, err
		}
	}
	iat, err := v.checkIAT(c.IAT, now)
	if err != nil {
		return time.Time{}, err
	}
	if req.AccessToken != "" {
		if c.ATH == "" {
			return time.Time{}, fmt.Errorf("%w: ath is required with an access token", ErrProofATH)
		}
		// The token's bytes on the stack when it fits (jwtgate's are well under).
		var buf [maxStackToken]byte
		want := sha256.Sum256(append(buf[:0], req.AccessToken...))
		var got [sha256.Size]byte
		if !decodeFixed(got[:], c.ATH) || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			return time.Time{}, ErrProofATH
		}
	}
	if v.o.nonces != nil && (c.Nonce == "" || !v.o.nonces.Valid(c.Nonce, now)) {
		return time.Time{}, ErrProofNonce
	}
	return iat, nil
}

// maxStackToken is the longest access token checkClaims hashes from a buffer on
// the stack; a longer one is copied to the heap.
const maxStackToken = 2048

// maxNumericDate is the last second of year 9999: later iat values are refused
// before they can overflow a time.Duration sum.
const maxNumericDate = 253402300799

// checkIAT converts iat (a NumericDate, fractions allowed by RFC 7519) and checks
// that now lies within [iat-leeway, iat+maxAge+leeway].
func (v *Verifier) checkIAT(f float64, now time.Time) (time.Time, error) {
	if f == 0 {
		return time.Time{}, fmt.Errorf("%w: iat is missing", ErrProofIAT)
	}
	if !(f > 0 && f <= maxNumericDate) {
		return time.Time{}, fmt.Errorf("%w: iat is out of range", ErrProofIAT)
	}
	sec := math.Floor(f)
	iat := time.Unix(int64(sec), int64((f-sec)*1e9))
	if iat.After(now.Add(v.o.leeway)) {
		return time.Time{}, fmt.Errorf("%w: issued in the future", ErrProofIAT)
	}
	if now.After(iat.Add(v.o.maxAge + v.o.leeway)) {
		return time.Time{}, fmt.Errorf("%w: too old", ErrProofIAT)
	}
	return iat, nil
}

// parsedProof is a proof whose header and claims decoded and whose key is checked,
// not yet its signature.
type parsedProof struct {
	alg          string // canonical
	key          publicKey
	header       string // the header segment, base64url
	cached       bool   // the header came from the verifier's header cache
	signingInput string
	sig          []byte // parseProof's only: parseProofWith returns it apart
	claims       wireClaims
}

// wireHeader is the JOSE header. Members other than these are ignored (RFC 7515
// section 4): kid, x5c and the like name no key this package would use instead.
//
// An absent member, null and the empty string (or 0 for iat) are all the same
// here: no check accepts an empty value, so values need no pointers (and no
// allocations to tell them apart).
type wireHeader struct {
	Typ  string         `json:"typ"`
	Alg  string         `json:"alg"`
	JWK  *wireJWK       `json:"jwk"`
	Crit jsontext.Value `json:"crit"`
}

// wireClaims are the proof's claims (RFC 9449 section 4.2); others are ignored.
type wireClaims struct {
	JTI   string  `json:"jti"`
	HTM   string  `json:"htm"`
	HTU   string  `json:"htu"`
	IAT   float64 `json:"iat"`
	ATH   string  `json:"ath"`
	Nonce string  `json:"nonce"`
}

// parseProof splits and decodes proof and checks its header and key.
func parseProof(proof string) (parsedProof, error) {
	p, sig, err := parseProofWith(proof, nil, nil)
	p.sig = sig
	return p, err
}

// maxStackClaims is the longest claims JSON decoded in a buffer on the stack;
// longer ones (they may be up to [MaxProofSize]) get one from the heap.
const maxStackClaims = 1024

// parseProofWith is parseProof taking the header's outcome from cache (nil: no
// cache) when the header segment is one it holds, and appending the decoded
// signature, which it returns, to sig when it fits its spare capacity.
func parseProofWith(proof string, cache *headerCache, sig []byte) (parsedProof, []byte, error) {
	if len(proof) > MaxProofSize {
		return parsedProof{}, nil, fmt.Errorf("%w: over %d bytes", ErrProofMalformed, MaxProofSize)
	}
	// A header found in the cache passed compactChars when it was first parsed:
	// only the rest of the proof needs looking at.
	dot1 := strings.IndexByte(proof, '.')
	var ch cachedHeader
	cached := false
	if cache != nil && dot1 > 0 {
		ch, cached = cache.get(proof[:dot1])
	}
	checked := 0
	if cached {
		checked = dot1
	}
	if !compactChars(proof[checked:]) {
		return parsedProof{}, nil, fmt.Errorf("%w: only base64url characters and dots are allowed", ErrProofMalformed)
	}
	dot2 := strings.LastIndexByte(proof, '.')
	if dot1 <= 0 || dot2 <= dot1+1 || dot2 == len(proof)-1 || strings.IndexByte(proof[dot1+1:dot2], '.') >= 0 {
		return parsedProof{}, nil, fmt.Errorf("%w: want three non-empty dot-separated parts", ErrProofMalformed)
	}

	p := parsedProof{header: proof[:dot1], cached: cached, signingInput: proof[:dot2]}
	if cached {
		p.alg, p.key = ch.alg, ch.key
	} else {
		var err error
		if p.alg, p.key, err = parseHeader(proof[:dot1]); err != nil {
			return parsedProof{}, nil, err
		}
	}

	seg := proof[dot1+1 : dot2]
	var buf [maxStackClaims]byte
	pb := buf[:0]
	if n := b64.DecodedLen(len(seg)); n > len(buf) {
		pb = make([]byte, 0, n)
	}
	pb, err := b64.AppendDecode(pb, []byte(seg))
	if err != nil {
		return parsedProof{}, nil, fmt.Errorf("%w: payload is not base64url", ErrProofMalformed)
	}
	if err := decodeClaims(pb, &p.claims); err != nil {
		return parsedProof{}, nil, fmt.Errorf("%w: payload is not a JSON object of the expected claims", ErrProofMalformed)
	}
	seg = proof[dot2+1:]
	if b64.DecodedLen(len(seg)) > cap(sig)-len(sig) {
		sig = nil // longer than any accepted key's signature: decoded to be refused
	}
	if sig, err = b64.AppendDecode(sig, []byte(seg)); err != nil {
		return parsedProof{}, nil, fmt.Errorf("%w: signature is not base64url", ErrProofMalformed)
	}
	return p, sig, nil
}

// parseHeader decodes the header segment h and checks the header and its key.
func parseHeader(h string) (alg string, key publicKey, err error) {
	hb, err := b64.DecodeString(h)
	if err != nil {
		return "", publicKey{}, fmt.Errorf("%w: header is not base64url", ErrProofMalformed)
	}
	var w wireHeader
	// Duplicate member names and invalid UTF-8 are refused (this decoder's
	// defaults), and names match case-sensitively as JOSE wants.
	if err := json.Unmarshal(hb, &w); err != nil {
		return "", publicKey{}, fmt.Errorf("%w: header is not a JSON object of the expected members", ErrProofMalformed)
	}
	if w.Crit != nil {
		return "", publicKey{}, ErrProofHeader
	}
	if !dpopTyp(w.Typ) {
		return "", publicKey{}, ErrProofTyp
	}
	if w.Alg == "" {
		return "", publicKey{}, fmt.Errorf("%w: alg is missing", ErrProofAlg)
	}
	alg = canonicalAlg(w.Alg)
	if alg == "" {
		return "", publicKey{}, fmt.Errorf("%w: want one of %s", ErrProofAlg, Algorithms)
	}
	if w.JWK == nil {
		return "", publicKey{}, fmt.Errorf("%w: jwk is missing", ErrProofKey)
	}
	if key, err = parseJWK(w.JWK, alg); err != nil {
		return "", publicKey{}, err
	}
	return alg, key, nil
}

// dpopTyp reports whether typ names the media type application/dpop+jwt: media
// types are case-insensitive and the application/ prefix may be left out (RFC 7515
// section 4.1.9), so all of these are the same value.
func dpopTyp(typ string) bool {
	const prefix = "application/"
	if len(typ) > len(prefix) && strings.EqualFold(typ[:len(prefix)], prefix) {
		typ = typ[len(prefix):]
	}
	return strings.EqualFold(typ, "dpop+jwt")
}

// compactChars reports whether s holds only the base64url alphabet and dots.
// Strict base64 decoding skips CR and LF, so without this check a line break in a
// segment would make another spelling of the same proof.
func compactChars(s string) bool {
	return bytetable.None(s, bytetable.CompactJWS)
}
