package ginauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jwtgate/jwtgate/internal/bytetable"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// Reasons a request is refused before its token reaches the verifier. Errors passed
// to the [WithErrorHook] hook wrap one of them or a verifier error.
var (
	// ErrNoToken means the request carries no bearer token: no Authorization
	// header, an empty one, or another scheme (and none of the other sources the
	// middleware reads). The answer is 401 with a bare challenge (RFC 6750 section
	// 3.1: no error code).
	ErrNoToken = errors.New("no bearer token")
	// ErrBadRequest means the credentials are malformed: more than one
	// Authorization header, "Bearer" without a token, a token that is not a single
	// token68 value, or credentials in more than one place (see [WithXAPIKey] and
	// [WithWebSocketProtocol]). The answer is 400 with error="invalid_request".
	ErrBadRequest = errors.New("credentials are malformed")
)

// Verifier is the part of *token.Verifier the middleware uses. Tests and library
// users may pass any implementation; errors should wrap the token.ErrToken
// sentinels, since the client is told only token.Reason's description of them.
type Verifier interface {
	Verify(ctx context.Context, raw string) (token.Claims, error)
}

var _ Verifier = (*token.Verifier)(nil)

// New returns middleware that refuses requests without a valid bearer token and
// makes the verified claims available through [Claims] and [APIKey]. It is
// NewMiddleware(v, opts...).Handler(); keep the [Middleware] instead when a handler
// behind it refuses tokens itself.
//
// By default the token is read only from the Authorization header; [WithXAPIKey]
// and [WithWebSocketProtocol] add the X-API-Key header and, on a WebSocket upgrade,
// the offered subprotocols. It is never read from the query, a form or a cookie,
// where it would end up in logs or be sent by the browser on its own. The scheme
// "Bearer" is matched without regard to case (RFC 7235 section 2.1) and may be
// followed by one or more spaces, then exactly one token68 value. A request
// carrying more than one credential is refused as malformed. A refusal aborts the chain and is answered with
// Cache-Control: no-store, a WWW-Authenticate challenge and, by default, a JSON
// body {"error": "...", "error_description": "..."} (see [WithErrorWriter]):
//
//   - no token or another scheme: 401, error "unauthorized", challenge without an
//     error code;
//   - a malformed header: 400, error "invalid_request";
//   - a token the verifier refuses: 401, error "invalid_token", with the
//     description from token.Reason (never the verifier's own error text).
//
// All settings live in the returned closure, so several instances with different
// options do not interfere.
func New(v Verifier, opts ...Option) gin.HandlerFunc {
	return NewMiddleware(v, opts...).Handler()
}

// Middleware is the bearer-token middleware with its settings: the handler that
// guards routes, and the refusal path that handlers behind it share.
type Middleware struct {
	v       Verifier
	ch      challenger
	hook    func(c *gin.Context, err error)
	write   ErrorWriter
	sources source
	proofs  ProofVerifier                // nil: DPoP-bound tokens are refused
	url     func(*http.Request) *url.URL // the URL a proof's htu must name
}

// NewMiddleware returns the middleware for v with opts applied; see [New] for what
// its handler admits and how it refuses.
func NewMiddleware(v Verifier, opts ...Option) *Middleware {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	return &Middleware{v: v, ch: newChallenger(o.realm), hook: o.onError, write: o.write, sources: o.sources,
		proofs: o.proofs, url: o.requestURL}
}

// Handler returns the gin handler that guards the routes behind it.
func (m *Middleware) Handler() gin.HandlerFunc {
	return func(c *gin.Context) {
		claims, nonce, ref := m.authenticate(c.Request)
		if ref != nil {
			m.refuse(c, ref)
			return
		}
		if nonce != "" {
			// The proof's nonce is about to go stale: the answer hands the client
			// the next one (RFC 9449 section 8.2).
			c.Writer.Header().Set(HeaderDPoPNonce, nonce)
		}
		// A request whose context an outer middleware derived from a token.Slot
		// gets its claims there; any other gets a context of its own.
		if ctx := c.Request.Context(); !token.SetClaims(ctx, claims) {
			c.Request = c.Request.WithContext(token.NewContext(ctx, claims))
		}
		c.Next()
	}
}

// Refuse answers c as the middleware answers a refused token and aborts the chain:
// 401, the WWW-Authenticate challenge with error="invalid_token", and the body,
// described by token.Reason(err); the error hook sees err. Handlers behind the
// middleware use it when they refuse a token the middleware let through (a session
// too old to refresh), so every refusal has one shape and is counted once. The
// challenge is DPoP's when the request's token is DPoP-bound.
func (m *Middleware) Refuse(c *gin.Context, err error) {
	ref := invalidToken(err)
	if claims, ok := Claims(c); ok && claims.JKT != "" {
		ref.dpop = true
	}
	m.refuse(c, ref)
}

// refuse answers c with ref, aborts the chain and calls the hook.
func (m *Middleware) refuse(c *gin.Context, ref *Refusal) {
	c.Abort()
	h := c.Writer.Header()
	h.Set("WWW-Authenticate", m.ch.header(ref))
	h.Set("Cache-Control", "no-store")
	if ref.nonce != "" {
		h.Set(HeaderDPoPNonce, ref.nonce)
	}
	m.write(c, *ref)
	if m.hook != nil {
		m.hook(c, ref.Err)
	}
}

// Reason returns a short label and a client-safe description for an error the
// middleware hands its hook: "no_token" and "bad_request" for its own refusals,
// a "dpop_" label for DPoP refusals (see [Labels]), else token.Reason's. The
// label set is small and fixed, safe as a metric label.
func Reason(err error) (label, description string) {
	switch {
	case errors.Is(err, ErrNoToken):
		return "no_token", noToken().Description
	case errors.Is(err, ErrBadRequest):
		return "bad_request", "the request is malformed"
	}
	if label, desc, ok := dpopReason(err); ok {
		return label, desc
	}
	return token.Reason(err)
}

// Claims returns the claims of the request's verified token, stored by [New]
// (in the request context's token.Slot when it has an empty one).
func Claims(c *gin.Context) (token.Claims, bool) {
	if c == nil || c.Request == nil {
		return token.Claims{}, false
	}
	return token.FromContext(c.Request.Context())
}

// APIKey returns the API key of the request's verified token, stored by [New].
// It is a secret: never log it (log the claims' APIKeyFingerprint instead).
func APIKey(c *gin.Context) (string, bool) {
	claims, ok := Claims(c)
	if !ok || claims.APIKey == "" {
		return "", false
	}
	return claims.APIKey, true
}

// authenticate reads the credentials of r, verifies the token and, for a
// DPoP-bound one, its proof. nonce is a DPoP-Nonce for the answer, or "".
func (m *Middleware) authenticate(r *http.Request) (claims token.Claims, nonce string, ref *Refusal) {
	cr, ref := readCredentials(r, m.sources)
	if ref != nil {
		return token.Claims{}, "", ref
	}
	// The token first: only the holder of a valid bound token gets its proof
	// checked, and so recorded in the replay cache.
	claims, err := m.v.Verify(r.Context(), cr.token)
	if err != nil {
		ref := invalidToken(err)
		ref.dpop = cr.dpop
		return token.Claims{}, "", ref
	}
	if claims.ID == "" {
		// A verifier that reports success without claims (every token has a jti)
		// is broken; refuse rather than admit a request nothing can be known about.
		return token.Claims{}, "", invalidToken(errors.New("verifier returned no claims"))
	}
	if nonce, ref = m.checkBinding(r, cr, claims); ref != nil {
		return token.Claims{}, "", ref
	}
	return claims, nonce, nil
}

// authorizationToken extracts the token68 of v, the request's single, non-empty
// Authorization header (net/http has already trimmed surrounding whitespace), and
// reports whether its scheme is DPoP, which counts only when dpopOn; any other
// scheme but Bearer is no token at all.
func authorizationToken(v string, dpopOn bool) (tok string, isDPoP bool, ref *Refusal) {
	scheme, rest, _ := strings.Cut(v, " ")
	name := "bearer"
	switch {
	case strings.EqualFold(scheme, "Bearer"):
	case dpopOn && strings.EqualFold(scheme, SchemeDPoP):
		isDPoP, name = true, "DPoP"
	default:
		return "", false, noToken()
	}
	// RFC 7235 asks for one space (1*SP) between scheme and credentials; extra
	// spaces are tolerated, other whitespace is not.
	rest = strings.TrimLeft(rest, " ")
	if rest == "" {
		return "", false, badRequest("the " + name + " token is missing")
	}
	if !isToken68(rest) {
		return "", false, badRequest("the " + name + " token must be a single token68 value")
	}
	return rest, isDPoP, nil
}

// token68Bad has, for each byte value, 1 if the byte may not appear in a token68
// before its padding and 0 if it may: a constant, so the check below is one load
// and one OR per byte, with no branch per character class.
const token68Bad = "\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x01\x01\x01\x01\x01" +
	"\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x01\x01\x01\x00" +
	"\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x01\x01\x00\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"

// isToken68 reports whether s is a token68 (RFC 7235 section 2.1):
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	end := len(strings.TrimRight(s, "="))
	if end == 0 {
		return false
	}
	return bytetable.None(s[:end], token68Bad)
}
