package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jwtgate/jwtgate/pkg/dpop"
	"github.com/jwtgate/jwtgate/pkg/ginauth"
)

// DPoP in the server (DESIGN.md, "Sender-constrained sessions: DPoP"): POST
// /sessions binds a session to the key of a DPoP proof or to a dpop_jkt
// thumbprint; every protected route checks a bound token's proof through
// ginauth.WithDPoP. Two replay caches, one for the proofs of POST /sessions and
// one for those that come with a bound token, so that a flood of proofs by
// fresh keys at POST /sessions (which anyone with an accepted API key may send)
// cannot fill the cache the chat routes need: only the holder of a valid bound
// token and its key reaches the second. No proof is valid in both, since their
// htm and htu differ. Both outlive every [Server.Reload].

// DPoPConfig configures DPoP. The zero value binds a session when a client asks
// for it, with pkg/dpop's defaults, and requires neither binding nor nonces.
type DPoPConfig struct {
	// Required refuses to issue unbound tokens (dpop.required): POST /sessions
	// then needs a DPoP proof or dpop_jkt, and an unbound token is not refreshed.
	Required bool
	// MaxAge is how long after its iat a proof is accepted (dpop.max_age); zero
	// means dpop.DefaultMaxAge.
	MaxAge time.Duration
	// Leeway is the clock skew allowed on a proof's iat, in both directions
	// (jwt.leeway); zero allows none.
	Leeway time.Duration
	// Nonces, when not nil, makes every proof carry a nonce of it
	// (dpop.require_nonce): a proof without one is refused with use_dpop_nonce
	// and the DPoP-Nonce header.
	Nonces *dpop.NonceSource
	// ReplayCacheSize bounds each replay cache (dpop.replay_cache_size); zero
	// means dpop.DefaultReplayCacheSize. Only [New] reads it: the caches outlive
	// every Reload, so a proof seen before a reload is refused after it.
	ReplayCacheSize int
	// Now replaces time.Now for proofs and nonces (tests); nil: time.Now.
	Now func() time.Time
}

// replayCaches are the server's two replay caches, made once by [New].
type replayCaches struct {
	sessions, resources *dpop.ReplayCache
}

func newReplayCaches(size int) (replayCaches, error) {
	if size == 0 {
		size = dpop.DefaultReplayCacheSize
	}
	s, err := dpop.NewReplayCache(size)
	if err != nil {
		return replayCaches{}, fmt.Errorf("dpop.replay_cache_size: %w", err)
	}
	r, err := dpop.NewReplayCache(size)
	if err != nil {
		return replayCaches{}, fmt.Errorf("dpop.replay_cache_size: %w", err)
	}
	return replayCaches{sessions: s, resources: r}, nil
}

// proofSet is the DPoP part of what a reload replaces.
type proofSet struct {
	sessions  *dpop.Verifier // POST /sessions, where no token is presented
	resources *dpop.Verifier // proofs with a bound token
	required  bool
}

// newProofSet builds the verifiers of c over the server's caches.
func newProofSet(c DPoPConfig, caches replayCaches) (*proofSet, error) {
	opts := []dpop.Option{dpop.WithLeeway(c.Leeway)}
	if c.MaxAge != 0 {
		opts = append(opts, dpop.WithMaxAge(c.MaxAge))
	}
	if c.Now != nil {
		opts = append(opts, dpop.WithClock(c.Now))
	}
	if c.Nonces != nil {
		opts = append(opts, dpop.WithNonces(c.Nonces))
	}
	sv, err := dpop.NewVerifier(append(opts, dpop.WithReplayCache(caches.sessions))...)
	if err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	rv, err := dpop.NewVerifier(append(opts, dpop.WithReplayCache(caches.resources))...)
	if err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	return &proofSet{sessions: sv, resources: rv, required: c.Required}, nil
}

// ReloadOption adds to what [Server.Reload] replaces.
type ReloadOption func(*reloadSet)

type reloadSet struct {
	dpop *DPoPConfig // nil: keep the DPoP settings in force
}

// ReloadDPoP replaces the DPoP settings too (the replay caches stay, and
// ReplayCacheSize is not looked at). Without it a reload keeps them.
func ReloadDPoP(c DPoPConfig) ReloadOption {
	return func(r *reloadSet) { r.dpop = &c }
}

// currentProofs checks proofs that come with a bound token with whatever
// settings are in force at the time.
type currentProofs struct{ s *Server }

func (cp currentProofs) Verify(proof string, req dpop.Request) (dpop.Result, error) {
	return cp.s.cur.Load().dpop.resources.Verify(proof, req)
}

func (cp currentProofs) Nonce() string { return cp.s.cur.Load().dpop.resources.Nonce() }

var _ ginauth.ProofVerifier = currentProofs{}

// forwarding tells the URL a request was addressed to, which a proof's htu names.
// Behind a TLS-terminating proxy the server sees http://backend:port while the
// client addressed https://public.example; X-Forwarded-Proto and
// X-Forwarded-Host say so, and are believed only from a peer in
// server.trusted_proxies, as X-Forwarded-For is for the client address. Anyone
// else could otherwise name whatever URL a stolen proof was made for.
type forwarding struct {
	trusted []netip.Prefix
}

// newForwarding parses server.trusted_proxies (addresses or CIDR ranges, as gin's
// SetTrustedProxies takes them).
func newForwarding(proxies []string) (forwarding, error) {
	var f forwarding
	for i, p := range proxies {
		var pfx netip.Prefix
		var err error
		if strings.Contains(p, "/") {
			pfx, err = netip.ParsePrefix(p)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(p); err == nil {
				pfx = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return forwarding{}, fmt.Errorf("server.trusted_proxies[%d]: want an IP address or CIDR range: %w", i, err)
		}
		f.trusted = append(f.trusted, pfx.Masked())
	}
	return f, nil
}

// trusts reports whether the peer at remoteAddr ("ip:port") is a trusted proxy.
func (f forwarding) trusts(remoteAddr string) bool {
	if len(f.trusted) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range f.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// requestURL is the URL r was addressed to: [ginauth.RequestURL], with the scheme
// and host a trusted proxy forwarded. Of a comma-separated list (a chain of
// proxies) the first element counts, the one the client-facing proxy wrote.
func (f forwarding) requestURL(r *http.Request) *url.URL {
	u := ginauth.RequestURL(r)
	if !f.trusts(r.RemoteAddr) {
		return u
	}
	if p := firstForwarded(r.Header, "X-Forwarded-Proto"); strings.EqualFold(p, "https") || strings.EqualFold(p, "http") {
		u.Scheme = strings.ToLower(p)
	}
	if h := firstForwarded(r.Header, "X-Forwarded-Host"); h != "" {
		u.Host = h // pkg/dpop refuses a host that is not one
	}
	return u
}

// firstForwarded returns the first element of header name's first value, trimmed.
func firstForwarded(h http.Header, name string) string {
	v := h.Get(name)
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.Trim(v, " \t")
}

// dpopError is a refusal of POST /sessions or /sessions/refresh for DPoP: 400
// with an RFC 9449 error code in the RFC 6749 body (section 5: the token
// endpoint answers 400, not 401 with a challenge).
func dpopError(code, desc string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, desc: desc}
}

// Descriptions of the binding refusals at POST /sessions.
const (
	descJKTInvalid  = "dpop_jkt must be the base64url SHA-256 JWK thumbprint of the DPoP key (43 characters)"
	descJKTMismatch = "the DPoP proof's key does not match dpop_jkt"
	descRequired    = "this server issues only DPoP-bound tokens: send a DPoP proof or dpop_jkt"
)

// checkJKTMember checks the dpop_jkt member's form, before any work is done on
// the request.
func checkJKTMember(member *string) *apiError {
	if member != nil && !dpop.ValidThumbprint(*member) {
		return invalidRequest(descJKTInvalid)
	}
	return nil
}

// sessionBinding returns the thumbprint a new session is bound to: the key of
// the request's DPoP proof (htm POST, htu the /sessions URL, no ath), else the
// dpop_jkt member (checked by checkJKTMember), else "" for an unbound session,
// which dpop.required refuses. With both, they must name one key. It runs once
// the API key is accepted, so only a client with one can fill the replay cache.
func (d sessionDeps) sessionBinding(c *gin.Context, l *live, member *string) (string, *apiError) {
	proof, ok := ginauth.ProofHeader(c.Request.Header)
	if !ok {
		return "", invalidRequest("more than one DPoP header")
	}
	var jkt string
	if member != nil {
		jkt = *member
	}
	if proof != "" {
		res, err := l.dpop.sessions.Verify(proof, dpop.Request{
			Method: c.Request.Method,
			URL:    d.requestURL(c.Request),
			JKT:    jkt, // the proof of another key is refused before it is remembered
		})
		if err != nil {
			return "", d.proofError(c, l, err)
		}
		if res.NextNonce != "" {
			c.Header(ginauth.HeaderDPoPNonce, res.NextNonce)
		}
		return res.JKT, nil
	}
	if jkt == "" && l.dpop.required {
		return "", d.refuseUnbound(c)
	}
	return jkt, nil
}

// refuseUnbound counts and returns the refusal of an unbound session (a new
// one, or the refresh of one) under dpop.required.
func (d sessionDeps) refuseUnbound(c *gin.Context) *apiError {
	d.countRefusal(c, "dpop_missing")
	return dpopError(ginauth.CodeInvalidDPoPProof, descRequired)
}

// proofError answers a proof refused at POST /sessions, counted by reason:
// use_dpop_nonce with the DPoP-Nonce header, else invalid_dpop_proof.
func (d sessionDeps) proofError(c *gin.Context, l *live, err error) *apiError {
	label, desc := dpop.Reason(err)
	d.countRefusal(c, label)
	switch {
	case errors.Is(err, dpop.ErrProofNonce):
		if n := l.dpop.sessions.Nonce(); n != "" {
			c.Header(ginauth.HeaderDPoPNonce, n)
			return dpopError(ginauth.CodeUseDPoPNonce, ginauth.DescUseDPoPNonce)
		}
	case errors.Is(err, dpop.ErrProofBinding):
		desc = descJKTMismatch
	}
	return dpopError(ginauth.CodeInvalidDPoPProof, desc)
}

// countRefusal counts a DPoP refusal of the session handlers as the middleware's
// are counted, and names it on the access line.
func (d sessionDeps) countRefusal(c *gin.Context, label string) {
	infoOf(c).authFailure = label
	d.metrics.verifyFailures.WithLabelValues(label).Inc()
}

// tokenType is the token_type of a token response: DPoP for a bound token (RFC
// 9449 section 5), else Bearer.
func tokenType(jkt string) string {
	if jkt != "" {
		return ginauth.SchemeDPoP
	}
	return "Bearer"
}
