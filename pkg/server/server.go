package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtgate/jwtgate/pkg/ginauth"
	"github.com/jwtgate/jwtgate/pkg/meter"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// Issuer is the part of *token.Issuer the server uses.
type Issuer interface {
	Issue(ctx context.Context, p token.Params) (*token.Issued, error)
	Refresh(ctx context.Context, c token.Claims, ttl time.Duration) (*token.Issued, error)
	// Fingerprint is the keyed fingerprint of an API key, as tokens carry it.
	Fingerprint(apiKey string) string
}

// Verifier is the part of *token.Verifier the server uses.
type Verifier interface {
	Verify(ctx context.Context, raw string) (token.Claims, error)
	KeySet() *token.KeySet
}

var (
	_ Issuer   = (*token.Issuer)(nil)
	_ Verifier = (*token.Verifier)(nil)
)

// DefaultMaxBodyBytes bounds /sessions request bodies when Config.MaxBodyBytes is
// zero.
const DefaultMaxBodyBytes = 64 << 10

// Deps are the server's collaborators.
type Deps struct {
	// Issuer signs new and refreshed tokens (required).
	Issuer Issuer
	// Verifier checks bearer tokens; its key set is published at
	// /.well-known/jwks.json (required).
	Verifier Verifier
	// Logger receives one access line per request and any errors; nil discards.
	Logger *slog.Logger
	// Registry receives the server's metrics and the Go and process collectors,
	// and is served at /metrics when Config.PublicMetrics is set; nil means a
	// private registry (never the global default one).
	Registry *prometheus.Registry
	// Version is reported by /healthz and the jwtgate_build_info metric.
	Version string
	// Meter counts the sessions' requests and tokens under their limits
	// (docs/DESIGN.md, "Session limits"); its state shows in /readyz and the
	// metrics. The caller builds it (with Redis, say) and closes it after the
	// server is done. Nil: a meter with local counters of default capacity.
	Meter *meter.Meter
}

// Server is jwtgate's HTTP handler. It starts ready.
type Server struct {
	h      http.Handler
	ready  atomic.Bool
	cur    atomic.Pointer[live]
	replay replayCaches // shared by every proofSet, across reloads
}

// live is the part of the server a reload replaces, swapped whole so that a
// request sees one consistent set: the issuer, the verifier (and with it the key
// set, the revocation instant and the verified-token cache), the API-key
// allowlist and the JWKS document.
type live struct {
	issuer   Issuer
	verifier Verifier
	allow    *allowlist
	jwks     []byte    // the JWKS document of the verifier's key set
	dpop     *proofSet // the DPoP verifiers and policy (dpop.go)
}

// newLive builds everything a reload needs before anything is swapped, so a
// failure leaves the running set in force.
func newLive(iss Issuer, v Verifier, allowed []string) (*live, error) {
	if iss == nil || v == nil {
		return nil, errors.New("an issuer and a verifier are required")
	}
	allow, err := newAllowlist(allowed)
	if err != nil {
		return nil, err
	}
	doc, err := newJWKSDoc(v.KeySet())
	if err != nil {
		return nil, fmt.Errorf("building the JWKS document: %w", err)
	}
	return &live{issuer: iss, verifier: v, allow: allow, jwks: doc}, nil
}

// Reload replaces the issuer, the verifier and the API-key allowlist (and with
// [ReloadDPoP] the DPoP settings) for every request that starts after it
// returns; requests in flight finish with the set they started with, and no
// connection is dropped. On error nothing changes.
func (s *Server) Reload(iss Issuer, v Verifier, allowedAPIKeys []string, opts ...ReloadOption) error {
	var rs reloadSet
	for _, o := range opts {
		o(&rs)
	}
	l, err := newLive(iss, v, allowedAPIKeys)
	if err != nil {
		return fmt.Errorf("reloading the server: %w", err)
	}
	l.dpop = s.cur.Load().dpop
	if rs.dpop != nil {
		if l.dpop, err = newProofSet(*rs.dpop, s.replay); err != nil {
			return fmt.Errorf("reloading the server: %w", err)
		}
	}
	s.cur.Store(l)
	return nil
}

// currentVerifier verifies with whatever verifier is in force at the time.
type currentVerifier struct{ s *Server }

func (cv currentVerifier) Verify(ctx context.Context, raw string) (token.Claims, error) {
	return cv.s.cur.Load().verifier.Verify(ctx, raw)
}

// New returns the server for cfg and d. Everything costly (allowlist digests,
// the JWKS document, the chat proxy's transport) is built here, once; an error
// means cfg or d cannot work.
//
// New builds its gin engine with gin.New and its own logging and recovery, and
// does not call gin.SetMode, which is process-wide: a binary that wants gin's
// debug output (route listing at start-up) off calls
// gin.SetMode(gin.ReleaseMode) once in main.
func New(cfg Config, d Deps) (*Server, error) {
	first, err := newLive(d.Issuer, d.Verifier, cfg.AllowedAPIKeys)
	if err != nil {
		return nil, fmt.Errorf("building the server: %w", err)
	}
	logger := d.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = withRequestIDs(logger)
	reg := d.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}

	m, err := newMetrics(reg, d.Version)
	if err != nil {
		return nil, err
	}
	chat, err := newChatHandler(cfg.Chat, logger, m.upstream)
	if err != nil {
		return nil, err
	}
	if err := cfg.Limits.Default.Within(cfg.Limits.Max); err != nil {
		return nil, fmt.Errorf("limits.default: not within limits.max: %w", err)
	}
	counting, err := newMetering(cfg.Limits, d.Meter, reg, logger)
	if err != nil {
		return nil, err
	}
	limiter, err := newRateLimiter[netip.Addr](cfg.SessionsPerMinute, cfg.Burst, rateLimitClients)
	if err != nil {
		return nil, err
	}
	refreshes, err := newRateLimiter[string](cfg.RefreshesPerMinute, cfg.RefreshesPerMinute, rateLimitClients)
	if err != nil {
		return nil, err
	}
	corsMW, err := newCORS(cfg.CORS, logger)
	if err != nil {
		return nil, err
	}
	fw, err := newForwarding(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	replay, err := newReplayCaches(cfg.DPoP.ReplayCacheSize)
	if err != nil {
		return nil, err
	}
	if first.dpop, err = newProofSet(cfg.DPoP, replay); err != nil {
		return nil, err
	}

	s := &Server{replay: replay}
	s.ready.Store(true)
	s.cur.Store(first)

	r := gin.New()
	// 405 with Allow for a known path under another method, JSON like every error.
	r.HandleMethodNotAllowed = true
	// An API answers the path it is given: no redirects to "fixed" paths.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	// ClientIP believes X-Forwarded-For only from the configured proxies (none by
	// default), and no other forwarding header: X-Real-IP is not standard and
	// proxies differ on whether they overwrite a client's own.
	r.RemoteIPHeaders = []string{"X-Forwarded-For"}
	if err := r.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("server.trusted_proxies: %w", err)
	}
	// Middleware order is the security model. CORS comes first: a preflight is
	// answered (or refused) before anything else runs, on any path, so it never
	// reaches authentication, a rate limit or the proxy, and is never
	// forwarded. Then the request id and observation, and recovery;
	// authentication and limits are per route (addRoutes).
	if corsMW != nil {
		r.Use(corsMW)
	}
	r.Use(observe(logger, m, newRequestIDs()), recoverPanics(logger))
	r.NoRoute(handleNoRoute)
	r.NoMethod(handleNoMethod)

	hook := ginauth.WithErrorHook(m.observeAuthFailure(logger))
	// A DPoP-bound token is accepted on every protected route with a proof for
	// the URL the client addressed (dpop.go).
	proofs := []ginauth.Option{ginauth.WithDPoP(currentProofs{s}), ginauth.WithRequestURL(fw.requestURL)}
	auth := ginauth.NewMiddleware(currentVerifier{s}, append(proofs, hook)...)
	// On /chat/* the token may also come in X-API-Key and, on a WebSocket
	// upgrade, as a subprotocol entry (what the vendors' SDKs and browsers can
	// send); /sessions keeps X-API-Key for the real API key.
	chatAuth := ginauth.New(currentVerifier{s}, append(proofs, hook, ginauth.WithErrorWriter(writeChatRefusal),
		ginauth.WithXAPIKey(), ginauth.WithWebSocketProtocol())...)
	rd := routeDeps{
		version:  d.Version,
		ready:    &s.ready,
		counters: counting.m.State,
		logger:   logger,
		jwks:     handleJWKS(s.cur.Load, cfg.JWKSMaxAge),
		sessions: sessionDeps{live: s.cur.Load, metrics: m, logger: logger, maxBody: cfg.MaxBodyBytes, auth: auth, limits: cfg.Limits,
			requestURL: fw.requestURL},
		auth:     auth.Handler(),
		chatAuth: chatAuth,
		limits:   enforceLimits(cfg.Chat.MaxBodyBytes, cfg.Chat.UpstreamURL != nil),
		count:    counting.handle,
		chat:     chat,
	}
	if cfg.PublicMetrics {
		rd.metrics = handleMetrics(reg, logger)
	}
	if refreshes != nil {
		rd.refreshLimit = perSession(refreshes)
	}
	if limiter != nil {
		rd.limit = perClient(limiter)
	}
	addRoutes(r, rd)
	s.h = r
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.h.ServeHTTP(w, r) }

// SetReady sets what /readyz reports; the binary sets it false while shutting down.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }
