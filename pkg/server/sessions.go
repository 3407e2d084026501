package server

import (
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/jwtgate/jwtgate/pkg/ginauth"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// apiKeyHeader carries the API key on POST /sessions; apiKeyHeaderKey is its
// canonical form, the key of http.Header.
const (
	apiKeyHeader    = "X-API-Key"
	apiKeyHeaderKey = "X-Api-Key"
)

// maxRequestTTL is the longest ttl a request may name; the issuer caps what it
// grants far lower (jwt.max_ttl), so this only refuses values that are clearly
// mistakes rather than silently capping them.
const maxRequestTTL = 365 * 24 * time.Hour

// sessionDeps are what the /sessions handlers need.
type sessionDeps struct {
	live    func() *live // the issuer and allowlist in force
	metrics *metrics
	logger  *slog.Logger
	maxBody int64
	auth    *ginauth.Middleware // refuses a token the middleware let through
	limits  LimitsConfig        // defaults and ceilings of session limits
	// requestURL is the URL a request was addressed to, for a proof's htu.
	requestURL func(*http.Request) *url.URL
}

// createSessionRequest is the optional body of POST /sessions. Pointers tell an
// absent (or null) member from a zero one.
type createSessionRequest struct {
	APIKey  *string        `json:"api_key"`
	Subject *string        `json:"subject"`
	TTL     *int64         `json:"ttl"`
	Limits  jsontext.Value `json:"limits"`   // checked by token.ParseLimits
	DPoPJKT *string        `json:"dpop_jkt"` // the thumbprint to bind to, see dpop.go
}

// refreshSessionRequest is the optional body of POST /sessions/refresh.
type refreshSessionRequest struct {
	TTL *int64 `json:"ttl"`
}

// tokenResponse is the body of a successful POST /sessions or /sessions/refresh.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	ExpiresAt   string `json:"expires_at"`
}

// appendJSON encodes r as json.Marshal would, member for member.
func (r tokenResponse) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"access_token":`...)
	b, err := appendQuoted(b, r.AccessToken)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"token_type":`...)
	if b, err = appendQuoted(b, r.TokenType); err != nil {
		return nil, err
	}
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, r.ExpiresIn, 10)
	b = append(b, `,"expires_at":`...)
	if b, err = appendQuoted(b, r.ExpiresAt); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// sessionResponse is the body of GET /sessions/current.
type sessionResponse struct {
	SessionID         string       `json:"session_id"`
	Subject           string       `json:"subject"`
	IssuedAt          string       `json:"issued_at"`
	ExpiresAt         string       `json:"expires_at"`
	APIKeyFingerprint string       `json:"api_key_fingerprint"`
	Limits            token.Limits `json:"limits"`             // {} when the session has none
	DPoPJKT           string       `json:"dpop_jkt,omitempty"` // the binding; absent: unbound
}

// appendJSON encodes r as json.Marshal would, member for member.
func (r sessionResponse) appendJSON(b []byte) ([]byte, error) {
	var err error
	for _, m := range [...]struct{ name, value string }{
		{`{"session_id":`, r.SessionID},
		{`,"subject":`, r.Subject},
		{`,"issued_at":`, r.IssuedAt},
		{`,"expires_at":`, r.ExpiresAt},
		{`,"api_key_fingerprint":`, r.APIKeyFingerprint},
	} {
		b = append(b, m.name...)
		if b, err = appendQuoted(b, m.value); err != nil {
			return nil, err
		}
	}
	b = append(b, `,"limits":`...)
	b = r.Limits.AppendJSON(b)
	if r.DPoPJKT != "" {
		b = append(b, `,"dpop_jkt":`...)
		if b, err = appendQuoted(b, r.DPoPJKT); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

const ttlDescription = "ttl must be a whole number of seconds from 1 to 31536000 (one year)"

// handleCreateSession serves POST /sessions: it trades an API key for a token.
func handleCreateSession(d sessionDeps) gin.HandlerFunc {
	spec := bodySpec{limit: d.maxBody, strict: true, fields: "api_key, subject, ttl, limits, dpop_jkt", invalid: map[string]string{
		"/ttl":      ttlDescription,
		"/api_key":  "api_key must be a string",
		"/subject":  "subject must be a string",
		"/dpop_jkt": descJKTInvalid,
	}}
	bufs := new(bodyBuffers)
	return func(c *gin.Context) {
		var req createSessionRequest
		if _, e := decodeBody(c, spec, &req); e != nil {
			respondError(c, e)
			return
		}
		ttl, e := requestTTL(req.TTL)
		if e != nil {
			respondError(c, e)
			return
		}
		limits, e := d.requestLimits(req.Limits)
		if e != nil {
			respondError(c, e)
			return
		}
		if e := checkJKTMember(req.DPoPJKT); e != nil {
			respondError(c, e)
			return
		}
		key, e := requestAPIKey(c.Request.Header, req.APIKey)
		if e != nil {
			respondError(c, e)
			return
		}
		if err := token.CheckAPIKey(key); err != nil {
			// CheckAPIKey's text describes the expected shape and never holds the key.
			respondError(c, &apiError{status: http.StatusUnauthorized, code: codeInvalidAPIKey, desc: err.Error()})
			return
		}
		l := d.live()
		// The access line names the key by its fingerprint: an issued token's
		// claims carry it, and a refusal from here on computes it (one keyed
		// hash per request, not one here and one in Issue).
		info := infoOf(c)
		refuse := func(e *apiError) {
			info.fingerprint = l.issuer.Fingerprint(key)
			respondError(c, e)
		}
		if !l.allow.allows(key) {
			refuse(keyNotAccepted())
			return
		}
		jkt, e := d.sessionBinding(c, l, req.DPoPJKT)
		if e != nil {
			refuse(e)
			return
		}
		var subject string
		if req.Subject != nil {
			subject = *req.Subject
		}
		issued, err := l.issuer.Issue(c.Request.Context(), token.Params{APIKey: key, Subject: subject, TTL: ttl, Limits: limits, JKT: jkt})
		if err != nil {
			refuse(d.issueError(c, err))
			return
		}
		info.fingerprint = issued.Claims.APIKeyFingerprint
		d.metrics.issued.WithLabelValues("new").Inc()
		respondToken(c, bufs, http.StatusCreated, issued)
	}
}

// handleCurrentSession serves GET /sessions/current: what the token says, never
// the API key.
func handleCurrentSession(logger *slog.Logger) gin.HandlerFunc {
	bufs := new(bodyBuffers)
	return func(c *gin.Context) {
		claims, ok := ginauth.Claims(c)
		if !ok {
			respondError(c, missingClaims(c, logger))
			return
		}
		setHeader(c.Writer.Header(), "Cache-Control", "no-store")
		respondAppender(c, bufs, http.StatusOK, sessionResponse{
			SessionID:         claims.SessionID,
			Subject:           claims.Subject,
			IssuedAt:          claims.IssuedAt.UTC().Format(time.RFC3339),
			ExpiresAt:         claims.ExpiresAt.UTC().Format(time.RFC3339),
			APIKeyFingerprint: claims.APIKeyFingerprint,
			Limits:            claims.Limits,
			DPoPJKT:           claims.JKT,
		})
	}
}

// handleRefreshSession serves POST /sessions/refresh: a new token for the session
// of the presented one.
//
// It answers 200, not the 201 of POST /sessions, with the same body: a refresh
// extends an existing session rather than creating one (as an OAuth token
// endpoint answers a refresh_token grant with 200). The API key is checked against
// the allowlist again, so a key removed from it stops being refreshed.
func handleRefreshSession(d sessionDeps) gin.HandlerFunc {
	spec := bodySpec{limit: d.maxBody, strict: true, fields: "ttl", invalid: map[string]string{"/ttl": ttlDescription}}
	bufs := new(bodyBuffers)
	return func(c *gin.Context) {
		var req refreshSessionRequest
		if _, e := decodeBody(c, spec, &req); e != nil {
			respondError(c, e)
			return
		}
		ttl, e := requestTTL(req.TTL)
		if e != nil {
			respondError(c, e)
			return
		}
		claims, ok := ginauth.Claims(c)
		if !ok {
			respondError(c, missingClaims(c, d.logger))
			return
		}
		l := d.live()
		if !l.allow.allows(claims.APIKey) {
			respondError(c, keyNotAccepted())
			return
		}
		if claims.JKT == "" && l.dpop.required {
			// A bound token's proof was checked by the middleware; an unbound one
			// is not renewed once binding is required.
			respondError(c, d.refuseUnbound(c))
			return
		}
		issued, err := l.issuer.Refresh(c.Request.Context(), claims, ttl)
		if errors.Is(err, token.ErrSessionTooOld) {
			d.auth.Refuse(c, err)
			return
		}
		if err != nil {
			respondError(c, d.issueError(c, err))
			return
		}
		d.metrics.issued.WithLabelValues("refresh").Inc()
		respondToken(c, bufs, http.StatusOK, issued)
	}
}

// keyNotAccepted refuses a well-formed key that the allowlist lacks.
func keyNotAccepted() *apiError {
	return &apiError{status: http.StatusUnauthorized, code: codeInvalidAPIKey, desc: "the API key is not accepted"}
}

// requestTTL checks the optional ttl member; nil means the issuer's default.
func requestTTL(ttl *int64) (time.Duration, *apiError) {
	if ttl == nil {
		return 0, nil
	}
	if *ttl <= 0 || *ttl > int64(maxRequestTTL/time.Second) {
		return 0, invalidRequest(ttlDescription)
	}
	return time.Duration(*ttl) * time.Second, nil
}

// requestLimits reads the optional limits member (absent or null: none asked)
// and applies the configured defaults and ceilings (docs/DESIGN.md, "Session limits").
func (d sessionDeps) requestLimits(raw jsontext.Value) (token.Limits, *apiError) {
	var asked token.Limits
	if raw != nil && raw.Kind() != 'n' {
		var err error
		if asked, err = token.ParseLimits(raw); err != nil {
			return token.Limits{}, limitsError(err)
		}
	}
	lim, err := token.ResolveLimits(asked, d.limits.Default, d.limits.Max)
	if err != nil {
		return token.Limits{}, limitsError(err)
	}
	return lim, nil
}

// limitsError describes the first problem of an error from pkg/token's limit
// checks, naming the member ("limits.models[1]: ..."); the text never quotes
// the value.
func limitsError(err error) *apiError {
	var le *token.LimitError
	if !errors.As(err, &le) {
		return invalidRequest("limits are invalid")
	}
	if le.Member == "" {
		return invalidRequest("limits: " + le.Reason)
	}
	return invalidRequest("limits." + le.Member + ": " + le.Reason)
}

// requestAPIKey finds the API key in the X-API-Key header or the api_key member.
// Both may be given if they agree; the comparison is constant-time.
func requestAPIKey(h http.Header, member *string) (string, *apiError) {
	values := h[apiKeyHeaderKey] // h.Values(apiKeyHeader), without canonicalizing the name per request
	if len(values) > 1 {
		return "", invalidRequest("more than one " + apiKeyHeader + " header")
	}
	var fromHeader, fromBody string
	if len(values) == 1 {
		fromHeader = values[0]
	}
	if member != nil {
		fromBody = *member
	}
	switch {
	case fromHeader == "" && fromBody == "":
		return "", invalidRequest("an API key is required, in the " + apiKeyHeader + " header or the api_key member")
	case fromHeader == "":
		return fromBody, nil
	case fromBody == "":
		return fromHeader, nil
	case subtle.ConstantTimeCompare([]byte(fromHeader), []byte(fromBody)) != 1:
		return "", invalidRequest("the " + apiKeyHeader + " header and the api_key member differ")
	}
	return fromHeader, nil
}

// issueError maps an error from Issue or Refresh to a response. The token
// package's errors never hold the key or the token, so their text is safe to send.
func (d sessionDeps) issueError(c *gin.Context, err error) *apiError {
	switch {
	case errors.Is(err, token.ErrAPIKeyInvalid):
		return &apiError{status: http.StatusUnauthorized, code: codeInvalidAPIKey, desc: err.Error()}
	case errors.Is(err, token.ErrSubjectInvalid), errors.Is(err, token.ErrTTLInvalid), errors.Is(err, token.ErrJKTInvalid):
		return invalidRequest(err.Error())
	}
	d.logger.LogAttrs(c.Request.Context(), slog.LevelError, "issuing a token failed",
		slog.String("route", c.FullPath()), slog.String("error", err.Error()))
	return &apiError{status: http.StatusInternalServerError, code: codeInternal, desc: "the token could not be issued"}
}

// missingClaims answers a protected handler reached without the middleware: a
// wiring mistake, never something a client can cause.
func missingClaims(c *gin.Context, logger *slog.Logger) *apiError {
	logger.LogAttrs(c.Request.Context(), slog.LevelError, "protected route reached without verified claims",
		slog.String("route", c.FullPath()))
	return &apiError{status: http.StatusInternalServerError, code: codeInternal, desc: "internal error"}
}

// respondToken writes a token response. Tokens are secrets: never cached.
func respondToken(c *gin.Context, bufs *bodyBuffers, status int, issued *token.Issued) {
	cl := &issued.Claims
	h := c.Writer.Header()
	setHeader(h, "Cache-Control", "no-store")
	setHeader(h, "Pragma", "no-cache")
	respondAppender(c, bufs, status, tokenResponse{
		AccessToken: issued.Token,
		TokenType:   tokenType(cl.JKT),
		ExpiresIn:   int64(cl.ExpiresAt.Sub(cl.IssuedAt) / time.Second),
		ExpiresAt:   cl.ExpiresAt.UTC().Format(time.RFC3339),
	})
}
