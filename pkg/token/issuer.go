package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/go-json-experiment/json"
)

// Issuer signs new session tokens with the signing key of a [KeySet].
// It is safe for concurrent use.
type Issuer struct {
	key      *Key
	header   string // base64url of the fixed JOSE header, built once
	issuer   string
	audience string
	aud      []byte // the audience as a JSON string, built once
	sigLen   int    // the length of the key's signatures, to size a token once
	o        issuerOptions
}

// Params describe a new session.
type Params struct {
	// APIKey is the key the session wraps: 1 to [MaxAPIKeyLen] printable ASCII
	// characters without spaces.
	APIKey string
	// Subject is the sub claim; empty means "apikey:" and the key's fingerprint
	// ([Issuer.Fingerprint]).
	Subject string
	// TTL is the token lifetime; zero means the issuer's default, and anything over
	// the issuer's maximum is capped to it.
	TTL time.Duration
	// Limits are signed into the token as they are (zero: none). The caller
	// applies its defaults and ceilings first, see [ResolveLimits].
	Limits Limits
	// JKT binds the session to a DPoP key: the RFC 7638 SHA-256 thumbprint of its
	// public key (43 characters of base64url), signed in as claim cnf.jkt. Empty:
	// an unbound (bearer) session.
	JKT string
}

// Issued is a freshly signed token and the claims it carries.
type Issued struct {
	// Token is the compact JWS. It is a secret: never log it.
	Token string
	// Claims are the token's claims (a value of the caller's own).
	Claims Claims
}

// NewIssuer returns an Issuer that signs with ks's signing key. Issuer and audience
// are required; see [WithTTL], [WithMaxTTL], [WithMaxSessionAge], [WithPlainAPIKey]
// and [WithClock]. Its errors wrap [ErrKeySetInvalid], [ErrIssuerAudience] or
// [ErrOptionInvalid] (with [ErrTTLInvalid] for lifetimes out of order).
func NewIssuer(ks *KeySet, issuer, audience string, opts ...IssuerOption) (*Issuer, error) {
	if ks == nil {
		return nil, fmt.Errorf("creating issuer: %w: nil key set", ErrKeySetInvalid)
	}
	if issuer == "" || audience == "" {
		return nil, fmt.Errorf("creating issuer: %w", ErrIssuerAudience)
	}
	o := defaultIssuerOptions()
	for _, opt := range opts {
		if opt != nil {
			opt.applyIssuer(&o)
		}
	}
	if o.ttl <= 0 || o.maxTTL < o.ttl || o.maxSessionAge < o.maxTTL {
		return nil, fmt.Errorf("creating issuer: %w: %w: need 0 < ttl <= max ttl <= max session age", ErrOptionInvalid, ErrTTLInvalid)
	}
	if o.now == nil {
		return nil, fmt.Errorf("creating issuer: %w: nil clock", ErrOptionInvalid)
	}
	k := ks.SigningKey()
	hdr, err := encodedHeader(k)
	if err != nil {
		return nil, err
	}
	aud, err := json.Marshal(audience)
	if err != nil {
		return nil, fmt.Errorf("encoding audience: %w", err)
	}
	return &Issuer{
		key:      k,
		aud:      aud,
		header:   hdr,
		issuer:   issuer,
		audience: audience,
		sigLen:   signatureLen(k),
		o:        o,
	}, nil
}

// signatureLen returns the length in bytes of k's signatures (RFC 7518
// section 3; RFC 8037 for EdDSA), or an upper bound for an RSA key of a type
// it does not know, so that a token's buffer is allocated once at its size.
func signatureLen(k *Key) int {
	if n, ok := HMACMinLen(k.alg); ok {
		return n
	}
	switch pub := k.public.(type) {
	case *rsa.PublicKey:
		return pub.Size()
	case *ecdsa.PublicKey:
		return 2 * ((pub.Curve.Params().BitSize + 7) / 8)
	case ed25519.PublicKey:
		return ed25519.SignatureSize
	}
	return 512
}

// DefaultTTL returns the lifetime of tokens issued without an explicit TTL.
func (i *Issuer) DefaultTTL() time.Duration { return i.o.ttl }

// MaxTTL returns the longest lifetime a caller may ask for.
func (i *Issuer) MaxTTL() time.Duration { return i.o.maxTTL }

// Fingerprint returns the fingerprint the issuer puts in the akf claim of a token
// for apiKey, the same as [KeySet.Fingerprint] of its key set: safe to log, and
// the same for every session of that key.
func (i *Issuer) Fingerprint(apiKey string) string { return i.key.seal.fingerprint(apiKey) }

// Issue starts a new session and returns its first token.
func (i *Issuer) Issue(_ context.Context, p Params) (*Issued, error) {
	if err := CheckAPIKey(p.APIKey); err != nil {
		return nil, err
	}
	fp := i.Fingerprint(p.APIKey)
	sub := p.Subject
	if sub == "" {
		sub = "apikey:" + fp
	} else if err := checkSubject(sub); err != nil {
		return nil, err
	}
	ttl, err := i.ttl(p.TTL)
	if err != nil {
		return nil, err
	}
	if err := checkJKT(p.JKT); err != nil {
		return nil, err
	}
	now := i.o.now().Truncate(time.Second)
	c := &Claims{
		Subject:           sub,
		SessionID:         randomID(),
		SessionStart:      now,
		APIKey:            p.APIKey,
		APIKeyFingerprint: fp,
		Limits:            p.Limits,
		JKT:               p.JKT,
	}
	return i.sign(c, now, now.Add(ttl))
}

// Refresh returns a new token for the session of c (same session ID, start time,
// subject, API key, limits and DPoP binding; new jti and lifetime). It fails with [ErrSessionTooOld] once
// the session is older than the maximum session age, and the new token never
// outlives that age. ttl zero means the default.
func (i *Issuer) Refresh(_ context.Context, c Claims, ttl time.Duration) (*Issued, error) {
	if c.SessionID == "" || c.SessionStart.IsZero() {
		return nil, fmt.Errorf("refreshing: %w: no session", ErrSessionTooOld)
	}
	if err := CheckAPIKey(c.APIKey); err != nil {
		return nil, err
	}
	if err := checkJKT(c.JKT); err != nil {
		return nil, err
	}
	d, err := i.ttl(ttl)
	if err != nil {
		return nil, err
	}
	now := i.o.now().Truncate(time.Second)
	end := c.SessionStart.Add(i.o.maxSessionAge)
	if !now.Before(end) {
		return nil, ErrSessionTooOld
	}
	exp := now.Add(d)
	if exp.After(end) {
		exp = end
	}
	n := &Claims{
		Subject:           c.Subject,
		SessionID:         c.SessionID,
		SessionStart:      c.SessionStart,
		APIKey:            c.APIKey,
		APIKeyFingerprint: i.Fingerprint(c.APIKey),
		Limits:            c.Limits,
		JKT:               c.JKT,
	}
	return i.sign(n, now, exp)
}

func (i *Issuer) ttl(d time.Duration) (time.Duration, error) {
	switch {
	case d < 0:
		return 0, fmt.Errorf("%w: must not be negative", ErrTTLInvalid)
	case d == 0:
		return i.o.ttl, nil
	case d < time.Second:
		return 0, fmt.Errorf("%w: must be at least one second", ErrTTLInvalid)
	case d > i.o.maxTTL:
		return i.o.maxTTL, nil
	}
	return d, nil
}

// sign fills in the registered claims and signs c.
func (i *Issuer) sign(c *Claims, now, exp time.Time) (*Issued, error) {
	c.KeyID = i.key.id
	c.Issuer = i.issuer
	c.Audience = i.audience
	c.ID = randomID()
	c.IssuedAt, c.NotBefore, c.ExpiresAt = now, now, exp
	w := wireClaims{
		Iss: c.Issuer,
		Sub: c.Subject,
		Iat: now.Unix(),
		Nbf: now.Unix(),
		Exp: exp.Unix(),
		Jti: c.ID,
		Sid: c.SessionID,
		Sst: c.SessionStart.Unix(),
		Akf: c.APIKeyFingerprint,
	}
	w.Aud = i.aud
	if !c.Limits.IsZero() {
		w.Lim = c.Limits.AppendJSON(nil)
	}
	w.Cnf = appendCnf(nil, c.JKT)
	if i.o.plain {
		w.Ak = c.APIKey
	} else {
		w.Aks = i.key.seal.seal(c.APIKey, c.ID)
	}
	// Encoded by hand, as json.Marshal(&w) would (claimsjson.go), into a buffer
	// on the stack: the payload is needed only until it is in base64url.
	var scratch [1024]byte
	payload, err := w.appendJSON(scratch[:0])
	if err != nil {
		return nil, fmt.Errorf("encoding claims: %w", err)
	}
	b64 := base64.RawURLEncoding
	buf := make([]byte, 0, len(i.header)+1+b64.EncodedLen(len(payload))+1+b64.EncodedLen(i.sigLen))
	buf = append(buf, i.header...)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, payload)
	sig, err := i.key.signature(buf)
	if err != nil {
		return nil, fmt.Errorf("signing with key %q: %w", i.key.id, err)
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	return &Issued{Token: string(buf), Claims: *c}, nil
}

// randomID returns 128 random bits in hex.
func randomID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b[:])
}

// CheckAPIKey reports whether key has the shape of an API key jwtgate wraps:
// 1 to [MaxAPIKeyLen] printable ASCII characters without spaces. The error wraps
// [ErrAPIKeyInvalid] and never contains the key.
func CheckAPIKey(key string) error {
	if key == "" || len(key) > MaxAPIKeyLen {
		return fmt.Errorf("%w: must be 1 to %d characters", ErrAPIKeyInvalid, MaxAPIKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%w: must be printable ASCII without spaces", ErrAPIKeyInvalid)
		}
	}
	return nil
}

func checkSubject(s string) error {
	if len(s) > MaxSubjectLen {
		return fmt.Errorf("%w: must be at most %d bytes", ErrSubjectInvalid, MaxSubjectLen)
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f || r == 0xfffd {
			return fmt.Errorf("%w: must be valid UTF-8 without control characters", ErrSubjectInvalid)
		}
	}
	return nil
}
