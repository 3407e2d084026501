package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/rs/cors"

	"github.com/jwtgate/jwtgate/pkg/crossorigin"
)

// corsMethods are the methods an allowed origin may use. /chat/* forwards any
// method, and the SDKs use all of these (a DELETE of a stored response, say).
func corsMethods() []string {
	return []string{
		http.MethodGet, http.MethodHead, http.MethodPost,
		http.MethodPut, http.MethodPatch, http.MethodDelete,
	}
}

// builtinCORSHeaders are the request headers an allowed origin may always send:
// jwtgate's own credentials (Authorization, X-API-Key, DPoP), what the OpenAI
// and Anthropic browser SDKs send (their x-stainless-* platform and retry
// headers, a set that grows from version to version, hence a prefix; the
// openai-* organization, project and beta headers; anthropic-version,
// anthropic-beta and anthropic-dangerous-direct-browser-access; User-Agent and
// Accept, which browsers treat as non-simple once a script sets them; the
// Idempotency-Key of SDK builds that send one), and X-Request-Id.
// cors.allowed_headers adds to them.
func builtinCORSHeaders() []string {
	return []string{
		"Authorization", "Content-Type", "X-API-Key", "DPoP",
		"Accept", "User-Agent", RequestIDHeader, "Idempotency-Key",
		"anthropic-version", "anthropic-beta", "anthropic-dangerous-direct-browser-access",
		"x-stainless-*", "openai-*",
	}
}

// corsExposedHeaders are the response headers scripts of an allowed origin may
// read: the bearer challenge, the request id, the rate-limit and retry headers
// the SDKs act on (Retry-After, retry-after-ms, x-should-retry and OpenAI's
// x-ratelimit-* set), the DPoP nonce, and Anthropic's request-id.
func corsExposedHeaders() []string {
	return []string{
		"WWW-Authenticate", RequestIDHeader, "Retry-After", "DPoP-Nonce",
		"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
		"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
		"retry-after-ms", "x-should-retry", "request-id",
	}
}

// maxRequestedHeaders bounds the names a preflight may ask for; browsers ask
// for a handful, and the answer echoes the prefix-matched ones.
const maxRequestedHeaders = 64

// corsHeaderPrefix starts the name of every CORS response header; the proxy
// drops the upstream's.
const corsHeaderPrefix = "Access-Control-"

// preflightVary names what a preflight answer depends on, for caches.
const preflightVary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"

// corsPolicy is jwtgate's CORS policy (DESIGN.md, "Browser and IDE clients").
// github.com/rs/cors does the protocol's mechanics (recognizing a preflight,
// Vary on every response, echoing the one Origin, Access-Control-Max-Age, never
// credentials); jwtgate decides: pkg/crossorigin matches origins and request
// headers (with prefixes, which rs/cors lacks), and the header lists are
// jwtgate's, spelled as DESIGN.md spells them. Everything is built once by
// [newCORS].
type corsPolicy struct {
	origins      *crossorigin.Origins
	headers      *crossorigin.Headers
	methods      map[string]bool
	allowMethods []string            // Access-Control-Allow-Methods, joined
	allowHeaders string              // the exact names, sent on every allowed preflight
	listed       map[string]struct{} // allowHeaders' names in lower case
	expose       []string            // Access-Control-Expose-Headers, joined (cap 1: appends copy)
	lib          *cors.Cors
	logger       *slog.Logger
}

// newCORS returns the CORS middleware for cfg, or nil when cfg allows no
// origin: then jwtgate sends no CORS headers at all and treats OPTIONS like any
// other method. Errors name the configuration key of each bad entry.
func newCORS(cfg CORSConfig, logger *slog.Logger) (gin.HandlerFunc, error) {
	if len(cfg.AllowedOrigins) == 0 {
		return nil, nil
	}
	var errs []error
	origins := make([]crossorigin.OriginPattern, 0, len(cfg.AllowedOrigins))
	for i, o := range cfg.AllowedOrigins {
		p, err := crossorigin.ParseOrigin(o)
		if err != nil {
			errs = append(errs, fmt.Errorf("cors.allowed_origins[%d]: %w", i, err))
			continue
		}
		origins = append(origins, p)
	}
	p := &corsPolicy{
		origins: crossorigin.NewOrigins(origins...),
		methods: make(map[string]bool),
		listed:  make(map[string]struct{}),
		logger:  logger,
	}
	var (
		patterns []crossorigin.HeaderPattern
		listed   []string
	)
	addHeader := func(key, h string) {
		hp, err := crossorigin.ParseHeader(h)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			return
		}
		patterns = append(patterns, hp)
		if _, dup := p.listed[hp.Name()]; !hp.IsPrefix() && !dup {
			listed = append(listed, h)
			p.listed[hp.Name()] = struct{}{}
		}
	}
	for _, h := range builtinCORSHeaders() {
		addHeader("built-in CORS headers", h)
	}
	for i, h := range cfg.AllowedHeaders {
		addHeader(fmt.Sprintf("cors.allowed_headers[%d]", i), h)
	}
	if cfg.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("cors.max_age: must not be negative, got %s", cfg.MaxAge))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p.headers = crossorigin.NewHeaders(patterns...)
	p.allowHeaders = strings.Join(listed, ", ")
	methods := corsMethods()
	for _, m := range methods {
		p.methods[m] = true
	}
	p.allowMethods = []string{strings.Join(methods, ", ")}
	p.expose = []string{strings.Join(corsExposedHeaders(), ", ")}

	maxAge := int(cfg.MaxAge / time.Second)
	if maxAge == 0 {
		maxAge = -1 // rs/cors sends "0" for a negative value and nothing for 0
	}
	p.lib = cors.New(cors.Options{
		AllowOriginVaryRequestFunc: p.allowOrigin,
		AllowedMethods:             methods,
		// The preflight's requested headers are checked before rs/cors sees
		// it (see preflight): its own list has no prefixes.
		AllowedHeaders:       []string{"*"},
		MaxAge:               maxAge,
		OptionsSuccessStatus: http.StatusNoContent,
		AllowCredentials:     false, // never: no cookies are used, the token rides in a header
	})
	return p.handle, nil
}

// allowOrigin is rs/cors's origin decision: exactly one Origin header, and an
// origin cors.allowed_origins allows. (rs/cors echoes every Origin value it is
// given, which for two values would be two Access-Control-Allow-Origin values.)
func (p *corsPolicy) allowOrigin(r *http.Request, origin string) (bool, []string) {
	return len(r.Header["Origin"]) == 1 && p.origins.Allow(origin), nil
}

// handle answers a preflight itself, on any path, and ends the chain there;
// any other request gets the CORS headers for its origin and goes on. Like
// rs/cors, it takes any OPTIONS with Access-Control-Request-Method for a
// preflight; one without an allowed Origin is refused, never passed on.
func (p *corsPolicy) handle(c *gin.Context) {
	r := c.Request
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		p.preflight(c)
		return
	}
	w := c.Writer
	p.lib.HandlerFunc(w, r) // Vary: Origin; Access-Control-Allow-Origin when allowed
	if h := w.Header(); h["Access-Control-Allow-Origin"] != nil {
		h["Access-Control-Expose-Headers"] = p.expose
	}
	c.Next()
}

// preflight answers an OPTIONS request with Origin and
// Access-Control-Request-Method. Allowed: 204 with the CORS headers. Refused
// (origin, method or a requested header not allowed): 403 with no CORS header
// at all, so the browser stops there; a refused preflight is never passed on.
func (p *corsPolicy) preflight(c *gin.Context) {
	c.Abort()
	w, r := c.Writer, c.Request
	h := w.Header()
	extra, reason := p.check(r)
	if reason != "" {
		h.Add("Vary", preflightVary)
		p.logger.LogAttrs(r.Context(), slog.LevelDebug, "CORS preflight refused",
			slog.String("reason", reason), slog.String("origin", clip(r.Header.Get("Origin"), 128)))
		respondError(c, &apiError{status: http.StatusForbidden, code: codeInvalidRequest,
			desc: "CORS preflight refused: " + reason})
		return
	}
	p.lib.HandlerFunc(headersOnly{h}, r) // Vary, Access-Control-Allow-Origin, Max-Age
	h["Access-Control-Allow-Methods"] = p.allowMethods
	allow := p.allowHeaders
	if len(extra) > 0 {
		allow += ", " + strings.Join(extra, ", ")
	}
	h.Set("Access-Control-Allow-Headers", allow)
	c.Status(http.StatusNoContent)
	w.WriteHeaderNow()
}

// check decides a preflight. It returns the requested headers that are allowed
// by a prefix only (the answer lists them besides the exact names), or why the
// preflight is refused.
func (p *corsPolicy) check(r *http.Request) (extra []string, reason string) {
	if ok, _ := p.allowOrigin(r, r.Header.Get("Origin")); !ok {
		return nil, "the origin is not allowed (cors.allowed_origins)"
	}
	if !p.methods[r.Header.Get("Access-Control-Request-Method")] {
		return nil, "the method is not allowed"
	}
	n := 0
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if n++; n > maxRequestedHeaders {
				return nil, fmt.Sprintf("more than %d request headers", maxRequestedHeaders)
			}
			if !p.headers.Allow(name) {
				if len(name) > 64 {
					return nil, "a requested header is not allowed (cors.allowed_headers)"
				}
				return nil, fmt.Sprintf("request header %q is not allowed (cors.allowed_headers)", name)
			}
			lower := strings.ToLower(name)
			if _, ok := p.listed[lower]; !ok && !slices.Contains(extra, lower) {
				extra = append(extra, lower)
			}
		}
	}
	return extra, ""
}

// headersOnly lets rs/cors set a preflight's headers while jwtgate writes the
// status, after adding the method and header lists of its own.
type headersOnly struct{ h http.Header }

func (w headersOnly) Header() http.Header       { return w.h }
func (headersOnly) Write(b []byte) (int, error) { return len(b), nil }
func (headersOnly) WriteHeader(int)             {}

// clip shortens s to at most n bytes, for log lines.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
