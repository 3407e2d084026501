package ginauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/jwtgate/jwtgate/pkg/dpop"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// DPoP (RFC 9449) on protected routes. A token bound to a key (claim cnf.jkt,
// token.Claims.JKT) is accepted only in the DPoP presentation, with a proof by
// that key for this very request:
//
//   - "Authorization: DPoP <jwt>" and one "DPoP: <proof>" header, or, on a
//     WebSocket upgrade, where a browser cannot set headers, the entry
//     "jwtgate.bearer.<jwt>" beside the entry "jwtgate.dpop.<proof>" among the
//     offered subprotocols;
//   - the proof's htm the request method (GET for an upgrade), its htu the
//     request's URL ([WithRequestURL]), its ath the SHA-256 of the token, and its
//     key the one the token is bound to.
//
// Everything else is refused: a bound token as "Bearer", in X-API-Key or in a
// subprotocol entry without its proof (a downgrade, [ErrTokenBound]), and an
// unbound token in the DPoP presentation ([ErrTokenNotBound]). An unbound token
// presented as a bearer token is accepted as before, and a DPoP header beside it
// is not looked at (RFC 9449 section 7.2 leaves bearer tokens alone).

// Names DPoP uses on the wire.
const (
	// SchemeDPoP is the authentication scheme of a bound token (RFC 9449
	// section 7.1), matched without regard to case like "Bearer".
	SchemeDPoP = "DPoP"
	// HeaderDPoP carries the proof (RFC 9449 section 4.1); a request may carry one.
	HeaderDPoP = "DPoP"
	// HeaderDPoPNonce carries the server's nonce (RFC 9449 section 8): with a
	// use_dpop_nonce refusal, and on an answer whose proof's nonce is about to go
	// stale.
	HeaderDPoPNonce = "DPoP-Nonce"
	// ProtocolDPoPPrefix starts the subprotocol entry "jwtgate.dpop.<proof>" that
	// carries the proof of a WebSocket upgrade beside a "jwtgate.bearer." entry.
	// Like every entry in jwtgate's namespace it is never forwarded
	// ([IsCredentialProtocol]).
	ProtocolDPoPPrefix = "jwtgate.dpop."
)

// Error codes of DPoP refusals (RFC 9449 sections 7.1 and 12.2), the error
// attribute of the DPoP challenge and the "error" member of the default body.
// A refused token in the DPoP presentation is [CodeInvalidToken], as for Bearer.
const (
	// CodeInvalidDPoPProof is a missing or refused proof.
	CodeInvalidDPoPProof = "invalid_dpop_proof"
	// CodeUseDPoPNonce asks the client to retry with the nonce of the DPoP-Nonce
	// header.
	CodeUseDPoPNonce = "use_dpop_nonce"
	// DescUseDPoPNonce is the description a [CodeUseDPoPNonce] refusal gives,
	// here and at the token endpoint.
	DescUseDPoPNonce = "a DPoP proof with the nonce of the DPoP-Nonce header is required"
)

// Reasons a request is refused for DPoP. Errors passed to the [WithErrorHook]
// hook wrap one of them (or a token.ErrToken sentinel for the token itself).
var (
	// ErrTokenBound means a DPoP-bound token came as a bearer token: "Bearer",
	// X-API-Key, or a subprotocol entry without a "jwtgate.dpop." proof.
	ErrTokenBound = errors.New("token is bound to a DPoP key")
	// ErrTokenNotBound means a token without cnf.jkt came in the DPoP presentation.
	ErrTokenNotBound = errors.New("token is not bound to a DPoP key")
	// ErrProofMissing means a bound token came without a proof.
	ErrProofMissing = errors.New("DPoP proof is missing")
	// ErrProofInvalid means the [ProofVerifier] refused the proof; the error
	// wraps the verifier's too, so errors.Is finds the dpop.ErrProof sentinel.
	ErrProofInvalid = errors.New("DPoP proof is refused")
)

// ProofVerifier is the part of *dpop.Verifier the middleware uses.
type ProofVerifier interface {
	// Verify checks proof against req and records it against replay; see
	// dpop.Verifier.Verify.
	Verify(proof string, req dpop.Request) (dpop.Result, error)
	// Nonce is the DPoP-Nonce for a refusal with dpop.ErrProofNonce.
	Nonce() string
}

var _ ProofVerifier = (*dpop.Verifier)(nil)

// WithDPoP makes the middleware accept DPoP-bound tokens, checking each one's
// proof with v (see the DPoP rules above [SchemeDPoP]); pass the same v to every
// middleware of one server, so that one replay cache sees every proof. Without it
// (the default, or nil) a bound token is always refused, since its proof cannot be
// checked, and the DPoP scheme is not read.
func WithDPoP(v ProofVerifier) Option {
	return func(o *options) {
		o.proofs = v
		if v == nil {
			o.sources &^= sourceDPoP
			return
		}
		o.sources |= sourceDPoP
	}
}

// WithRequestURL sets how the middleware learns the URL a request was addressed
// to, which a proof's htu must name: scheme, host (with the port) and path; the
// query is ignored. The default is [RequestURL]. Behind a TLS-terminating proxy
// the URL the client used differs from the one the server sees: a function that
// reads X-Forwarded-Proto and X-Forwarded-Host must believe them only from a
// trusted proxy, or any client could name the URL its stolen proof was made for.
// nil keeps the default.
func WithRequestURL(f func(*http.Request) *url.URL) Option {
	return func(o *options) {
		if f != nil {
			o.requestURL = f
		}
	}
}

// RequestURL returns the URL r was addressed to as the server received it: https
// when the connection is TLS, else http; r.Host; the path as sent. No forwarding
// header is believed.
func RequestURL(r *http.Request) *url.URL {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath}
}

// Labels returns every label [Reason] gives a refusal that the hook should count
// (all but "no_token" and "bad_request"): token.Labels, dpop.Labels and the
// middleware's own DPoP labels, for pre-declaring metric series.
func Labels() []string {
	out := append(token.Labels(), dpop.Labels()...)
	for _, r := range dpopReasons {
		out = append(out, r.label)
	}
	return out
}

// dpopReasons label the middleware's own DPoP refusals; their descriptions are
// what the client is told.
var dpopReasons = []struct {
	err         error
	label, desc string
}{
	{ErrTokenBound, "dpop_downgrade", "the token is bound to a DPoP key: present it with the DPoP scheme and a DPoP proof"},
	{ErrTokenNotBound, "dpop_unbound", "the token is not bound to a DPoP key: present it with the Bearer scheme"},
	{ErrProofMissing, "dpop_missing", "a DPoP proof is required with a DPoP-bound token"},
}

// dpopReason labels a DPoP refusal; ok is false for any other error.
func dpopReason(err error) (label, desc string, ok bool) {
	if errors.Is(err, ErrProofInvalid) {
		label, desc = dpop.Reason(err)
		return label, desc, true
	}
	for _, r := range dpopReasons {
		if errors.Is(err, r.err) {
			return r.label, r.desc, true
		}
	}
	return "", "", false
}

// dpopRefusal is a 401 for err, one of the middleware's DPoP sentinels.
func dpopRefusal(err error, code string) *Refusal {
	_, desc, _ := dpopReason(err)
	return &Refusal{Status: http.StatusUnauthorized, Code: code, Description: desc, Err: err, dpop: true}
}

// proofRefusal is the 401 for an error of the proof verifier: use_dpop_nonce with
// the current nonce for a missing or stale nonce, else invalid_dpop_proof.
func proofRefusal(err error, nonce string) *Refusal {
	ref := dpopRefusal(fmt.Errorf("%w: %w", ErrProofInvalid, err), CodeInvalidDPoPProof)
	if errors.Is(err, dpop.ErrProofNonce) && nonce != "" {
		ref.Code, ref.nonce = CodeUseDPoPNonce, nonce
		ref.Description = DescUseDPoPNonce
	}
	return ref
}

// headerDPoPKey is [HeaderDPoP] as http.Header keys it (its canonical form),
// so that no request pays for canonicalising it.
const headerDPoPKey = "Dpop"

// ProofHeader returns the proof of h's DPoP header, "" when there is none or it
// is empty; ok is false when h carries more than one DPoP header, which RFC 9449
// section 4.3 refuses.
func ProofHeader(h http.Header) (proof string, ok bool) {
	switch values := h[headerDPoPKey]; len(values) {
	case 0:
		return "", true
	case 1:
		return values[0], true
	}
	return "", false
}

// readProof reads the DPoP proof of a request with header h into cr and settles
// whether cr is in the DPoP presentation: at most one DPoP header, and among the
// offered subprotocols of a WebSocket upgrade (with [WithWebSocketProtocol];
// protocols, as readCredentials parsed them, nil otherwise) at most one
// "jwtgate.dpop." entry, never both.
func readProof(h http.Header, protocols []string, cr *credentials) *Refusal {
	var n int
	proof, ok := ProofHeader(h)
	if !ok {
		return badRequest("more than one DPoP header")
	}
	if proof != "" {
		cr.proof, n = proof, 1
	}
	var inProtocol bool
	for _, e := range protocols {
		if !hasPrefixFold(e, ProtocolDPoPPrefix) {
			continue
		}
		if inProtocol {
			return badRequest("more than one DPoP proof in Sec-WebSocket-Protocol")
		}
		cr.proof, inProtocol, n = e[len(ProtocolDPoPPrefix):], true, n+1
	}
	if n > 1 {
		return badRequest("the request carries DPoP proofs in more than one place; send exactly one")
	}
	if inProtocol && cr.from == sourceProtocol && cr.bearerEntry {
		cr.dpop = true
	}
	return nil
}

// checkBinding applies the DPoP rules to a verified token: the presentation
// must match the binding, and a bound token's proof must pass. nonce is a
// DPoP-Nonce for a successful answer, or "".
func (m *Middleware) checkBinding(r *http.Request, cr credentials, claims token.Claims) (nonce string, ref *Refusal) {
	bound := claims.JKT != ""
	switch {
	case !cr.dpop && !bound:
		return "", nil
	case !cr.dpop:
		ref := dpopRefusal(ErrTokenBound, CodeInvalidToken)
		// Without a proof verifier the route takes no DPoP at all: a Bearer
		// challenge does not invite a scheme it cannot check.
		ref.dpop = m.proofs != nil
		return "", ref
	case !bound:
		return "", dpopRefusal(ErrTokenNotBound, CodeInvalidToken)
	case cr.proof == "":
		return "", dpopRefusal(ErrProofMissing, CodeInvalidDPoPProof)
	}
	res, err := m.proofs.Verify(cr.proof, dpop.Request{
		Method:      r.Method,
		URL:         m.url(r),
		AccessToken: cr.token,
		JKT:         claims.JKT,
	})
	if err != nil {
		return "", proofRefusal(err, m.proofs.Nonce())
	}
	return res.NextNonce, nil
}
