package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jwtgate/jwtgate/pkg/h1"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// Causes with which the proxy ends an upstream request itself; they tell these
// cases apart from a client that went away.
var (
	errIdleTimeout       = errors.New("chat upstream sent nothing for chat.idle_timeout")
	errMaxStreamDuration = errors.New("chat upstream response ran past chat.max_stream_duration")
)

// copyBufferSize is the size of the buffers that carry response bodies, pooled
// (ReverseProxy would allocate 32 KiB afresh for every request). A stream holds
// its buffer for as long as it lasts, so the size is memory per open stream:
// 8 KiB keeps a 1 MiB answer at about 1 GiB/s on loopback (32 KiB: 1.5 GiB/s;
// BenchmarkProxyCopyBuffer) for a quarter of the memory, and chat events are
// far smaller.
const copyBufferSize = 8 << 10

// maxIdleConnsPerHost keeps warm connections to the single upstream. The
// transport's default of 2 would make most concurrent requests dial anew.
const maxIdleConnsPerHost = 64

// upstreamKeepAlive is the TCP keep-alive period of the connections to the
// upstream, whichever transport dials them.
const upstreamKeepAlive = 30 * time.Second

// chatProxy forwards /chat/*path to one upstream. Everything costly (transport,
// reverse proxy, allowed path list) is built once by [newChatProxy].
type chatProxy struct {
	upstream       *url.URL
	basePath       string // upstream path without its trailing slash
	baseRawPath    string // escaped form of basePath when the upstream URL needs one
	authHeader     string
	authPrefix     string   // the scheme and a space, or empty for the bare key
	allowed        []string // chat.allowed_paths, in token.CheckPathPrefix's form
	maxBody        int64
	idleTimeout    time.Duration
	maxStream      time.Duration
	allowSetCookie bool
	methods        methodSet
	managed        []string // managedRequestHeaders
	underscoreAuth bool     // authHeader has an underscore: its dashed spelling is a variant
	logger         *slog.Logger
	metrics        *upstreamMetrics
	rp             *httputil.ReverseProxy
}

// proxyCall is the state of one proxied request. It rides on the request
// context so that the shared ReverseProxy hooks can reach it.
type proxyCall struct {
	client  context.Context // the inbound request's context, before ours
	cancel  context.CancelCauseFunc
	rest    string // the path after /chat, validated
	outURL  url.URL
	authVal string
	keyFP   string
	start   time.Time // when the request was handed to the reverse proxy
	// ws is the checked WebSocket handshake of an upgrade; nil for any other
	// request. protocols are the offered subprotocols less jwtgate's own
	// entries, set on the upstream request when offered is true.
	ws        *wsHandshake
	protocols []string
	offered   bool
	// answered is set once the upstream's response headers arrived. The
	// proxy's hooks and deferred calls run on the handler's goroutine.
	answered bool
	out      clientWriter // what the reverse proxy writes to
	preread  []byte       // the request body when read ahead (preread.go)
	body     upstreamBody // the upstream's response body, once answered
	in       clientBody   // the client's request body, when it has one
	usage    *callUsage   // the request's counting state (metering.go); nil: none
}

type proxyCallKey struct{}

// newChatProxy returns the handler for /chat/*path that forwards to
// cfg.UpstreamURL with the session's API key, as described in docs/DESIGN.md ("A request").
//
// Zero durations switch the matching limit off and a zero MaxBodyBytes means
// no body limit; an empty AuthHeader means "Authorization". Upstream latency and
// failures are recorded in m (nil: in series nobody collects). It returns an
// error naming the configuration key for an unusable cfg ([ChatConfig.Validate]).
func newChatProxy(cfg ChatConfig, logger *slog.Logger, m *upstreamMetrics) (gin.HandlerFunc, error) {
	p, err := buildChatProxy(cfg, logger, m)
	if err != nil {
		return nil, err
	}
	return p.handle, nil
}

func buildChatProxy(cfg ChatConfig, logger *slog.Logger, m *upstreamMetrics) (*chatProxy, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = newUpstreamMetrics()
	}
	// ChatConfig.Validate owns the rules for chat.*; what is left here is what
	// only building the proxy needs.
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u := cfg.UpstreamURL
	if u == nil {
		return nil, errors.New("chat.upstream_url: not set")
	}
	header := cfg.AuthHeader
	if header == "" {
		header = "Authorization"
	}
	allowed := make([]string, 0, len(cfg.AllowedPaths))
	for _, a := range cfg.AllowedPaths {
		ap, _ := token.CheckPathPrefix(a) // checked by Validate
		allowed = append(allowed, ap)
	}
	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, errors.New("chat proxy: http.DefaultTransport is not an *http.Transport")
	}

	tr := base.Clone()
	tr.Proxy = nil // the upstream is configured explicitly; HTTP_PROXY must not redirect keys
	tr.DialContext = (&net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: upstreamKeepAlive}).DialContext
	tr.ResponseHeaderTimeout = cfg.ResponseHeaderTimeout
	tr.MaxIdleConnsPerHost = maxIdleConnsPerHost
	// Pass bodies through as the upstream encoded them: with compression on, the
	// transport would ask for gzip on the client's behalf and decode it here.
	tr.DisableCompression = true
	var rt http.RoundTripper = tr
	if u.Scheme == "http" {
		// One goroutine per request and no buffers held by an open stream
		// (pkg/h1); upgrades and what else it does not carry go to tr.
		rt = h1.New(h1.Config{
			DialTimeout:           cfg.ConnectTimeout,
			KeepAlive:             upstreamKeepAlive,
			ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
			MaxIdleConnsPerHost:   maxIdleConnsPerHost,
			IdleConnTimeout:       tr.IdleConnTimeout,
			Fallback:              tr,
		})
	}

	p := &chatProxy{
		upstream:       u,
		basePath:       strings.TrimSuffix(u.Path, "/"),
		authHeader:     header,
		allowed:        allowed,
		maxBody:        cfg.MaxBodyBytes,
		idleTimeout:    cfg.IdleTimeout,
		maxStream:      cfg.MaxStreamDuration,
		allowSetCookie: cfg.AllowSetCookie,
		methods:        newMethodSet(cfg.AllowedMethods),
		managed:        managedRequestHeaders(header),
		underscoreAuth: strings.IndexByte(header, '_') >= 0,
		logger:         logger,
		metrics:        m,
	}
	if u.RawPath != "" {
		p.baseRawPath = strings.TrimSuffix(u.EscapedPath(), "/")
	}
	if cfg.AuthScheme != "" {
		p.authPrefix = cfg.AuthScheme + " "
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      rt,
		FlushInterval:  0, // clientWriter flushes every write: server-sent events must not wait
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		ErrorHandler:   p.handleError,
		ModifyResponse: p.modifyResponse,
		BufferPool:     newBufferPool(copyBufferSize),
	}
	return p, nil
}

// checkUpstreamURL is the rule for chat.upstream_url ([ChatConfig.Validate]). A
// query is allowed: it is sent with every request, before the client's own.
func checkUpstreamURL(u *url.URL) error {
	switch {
	case u == nil:
		return errors.New("chat.upstream_url: not set")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("chat.upstream_url: scheme must be http or https, got %q", u.Scheme)
	case u.Host == "" || u.Opaque != "":
		return errors.New("chat.upstream_url: must be an absolute URL with a host")
	case u.User != nil:
		// The key travels in a header; credentials in the URL would be ignored
		// by the transport, and would show up wherever the URL is printed.
		return errors.New("chat.upstream_url: must not contain user information")
	case u.Fragment != "":
		return errors.New("chat.upstream_url: must not contain a fragment")
	}
	return nil
}

// handle is the gin handler for /chat/*path.
func (p *chatProxy) handle(c *gin.Context) {
	w, r := c.Writer, c.Request
	claims, ok := token.FromContext(r.Context())
	if !ok || claims.APIKey == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="jwtgate"`)
		writeChatError(w, http.StatusUnauthorized, codeInvalidToken, "the request carries no verified session")
		return
	}
	rest := c.Param("path")
	if rest == "" {
		rest = "/"
	}
	if !validRest(rest) || !validEscapedPath(r.URL.EscapedPath()) {
		writeChatError(w, http.StatusBadRequest, codeInvalidRequest,
			"the chat path must not contain dot segments, empty segments, backslashes, control characters or encoded dots, slashes or percent signs")
		return
	}
	if !p.methods.allows(r.Method) {
		w.Header().Set("Allow", p.methods.allow)
		writeChatError(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, "the chat backend is not reached with this method")
		return
	}
	hs, protocols, offered, e := checkHandshake(r)
	if e != nil {
		writeChatError(w, e.status, e.code, e.desc)
		return
	}
	call := &proxyCall{
		client:    r.Context(),
		rest:      rest,
		outURL:    p.outURL(rest, r.URL.RawQuery),
		authVal:   p.authPrefix + claims.APIKey,
		keyFP:     claims.APIKeyFingerprint,
		ws:        hs,
		protocols: protocols,
		offered:   offered,
		usage:     chatUsageOf(r.Context()),
	}
	if !p.isAllowed(rest) {
		writeChatError(w, http.StatusNotFound, codeNotFound, "the chat path is not available")
		return
	}
	if !validTrailerNames(r.Trailer) {
		writeChatError(w, http.StatusBadRequest, codeInvalidRequest, "the request announces a trailer whose name is not a valid header name")
		return
	}
	// A body the session's limits read is in memory and was held to the same
	// bound before the cap was spliced in.
	if _, read := r.Body.(*memBody); p.maxBody > 0 && !read {
		if r.ContentLength > p.maxBody {
			p.metrics.errors.WithLabelValues(upstreamTooLarge).Inc()
			e := tooLarge(p.maxBody)
			writeChatError(w, e.status, e.code, e.desc)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, p.maxBody)
		}
	}
	if r.Body != nil && r.Body != http.NoBody {
		call.in.rc = r.Body
		r.Body = &call.in
	}

	// One context ends the upstream call, with the cause of its ending: the
	// idle timers', chat.max_stream_duration's timer below, or the client's.
	ctx, cancel := context.WithCancelCause(r.Context())
	call.cancel = cancel
	defer cancel(nil)
	var end time.Time
	if p.maxStream > 0 {
		// A stream that began with a valid token runs on after the token
		// expires, but never longer than this. The context carries no
		// deadline: its end is the write deadlines' (call.out) and the
		// timer's, which ends the call with errMaxStreamDuration.
		end = time.Now().Add(p.maxStream)
		t := time.AfterFunc(p.maxStream, func() { cancel(errMaxStreamDuration) })
		defer t.Stop()
	}
	defer p.endStream(ctx, call) // deferred: the proxy aborts a cut stream with a panic
	ctx = context.WithValue(ctx, proxyCallKey{}, call)

	if hs != nil {
		w = switchWriter{w} // the 101 bypasses gin's writer
	}
	call.out.init(w, p.idleTimeout, end)
	out := r.WithContext(ctx)
	var err error
	if call.preread, err = prereadBody(out); err != nil {
		p.handleError(&call.out, out, err)
		return
	}
	call.start = time.Now()
	p.rp.ServeHTTP(&call.out, out)
}

// outURL joins the upstream URL and the validated rest of the path.
func (p *chatProxy) outURL(rest, rawQuery string) url.URL {
	u := url.URL{
		Scheme: p.upstream.Scheme,
		Host:   p.upstream.Host,
		Path:   p.basePath + rest,
	}
	if p.baseRawPath != "" {
		u.RawPath = p.baseRawPath + (&url.URL{Path: rest}).EscapedPath()
	}
	switch {
	case p.upstream.RawQuery == "":
		u.RawQuery = rawQuery
	case rawQuery == "":
		u.RawQuery = p.upstream.RawQuery
	default:
		u.RawQuery = p.upstream.RawQuery + "&" + rawQuery
	}
	return u
}

// isAllowed matches rest, the path after /chat, against chat.allowed_paths, as
// the paths of session limits are matched (token.HasPathPrefix).
func (p *chatProxy) isAllowed(rest string) bool {
	if len(p.allowed) == 0 {
		return true
	}
	for _, a := range p.allowed {
		if token.HasPathPrefix(rest, a) {
			return true
		}
	}
	return false
}

// rewrite builds the outbound request. ReverseProxy has already removed the
// hop-by-hop and X-Forwarded-* headers from pr.Out.
func (p *chatProxy) rewrite(pr *httputil.ProxyRequest) {
	call, ok := pr.In.Context().Value(proxyCallKey{}).(*proxyCall)
	if !ok {
		// Only handle calls the proxy; an empty URL fails the round trip (502).
		pr.Out.URL = &url.URL{}
		return
	}
	u := call.outURL
	pr.Out.URL = &u
	if call.preread != nil {
		pr.Out.Body = inMemoryBody(call.preread)
		// A transport may send the request again after a failure that
		// its rules allow (pkg/h1, net/http: nothing written, or an
		// idempotent request), which needs the body again.
		b := call.preread
		pr.Out.GetBody = func() (io.ReadCloser, error) { return inMemoryBody(b), nil }
	}
	pr.Out.Host = "" // the Host header names the upstream
	h := pr.Out.Header
	p.dropManagedVariants(h) // first: what jwtgate sets below stays
	if len(pr.Out.Trailer) > 0 {
		p.dropManagedTrailers(pr.Out.Trailer)
	}
	pr.SetXForwarded()
	// The session token, its DPoP proof, the key header of /sessions and
	// jwtgate's cookies are for jwtgate alone; the upstream gets the API key and
	// nothing else.
	h.Del("Authorization")
	h.Del("X-Api-Key")
	h.Del("Cookie")
	h.Del("Dpop")
	if call.usage.readsUsage() {
		// A compressed answer's usage cannot be read as it passes.
		h.Del("Accept-Encoding")
	}
	if call.offered {
		setProtocols(h, call.protocols)
	}
	h.Set(p.authHeader, call.authVal)
	// The upstream sees the id jwtgate logs, never a client's malformed one.
	// (Outside [New]'s middleware there is no id, and the header passes as is.)
	if id := requestIDOf(pr.In.Context()); id != "" {
		h.Set(RequestIDHeader, id)
	}
}

func (p *chatProxy) modifyResponse(res *http.Response) error {
	call, _ := res.Request.Context().Value(proxyCallKey{}).(*proxyCall)
	if call != nil {
		call.answered = true
		call.out.answered()
		p.metrics.observeDuration(res.StatusCode, time.Since(call.start))
	}
	// The trailers announced now; those that arrive unannounced are scrubbed
	// by upstreamBody once the body is read.
	p.scrubResponseHeader(res.Header)
	p.scrubResponseHeader(res.Trailer)
	if res.StatusCode == http.StatusSwitchingProtocols {
		return p.acceptUpgrade(res, call)
	}
	if call != nil {
		call.body.wrap(p, res, p.idleTimeout, func() { call.cancel(errIdleTimeout) })
		readUsage(res, call.usage)
	}
	return nil
}

// handleError answers a failed round trip. The upstream's error text can carry
// the URL or, in a badly behaved chain, the key, so it is only logged, scrubbed.
func (p *chatProxy) handleError(w http.ResponseWriter, r *http.Request, err error) {
	call, _ := r.Context().Value(proxyCallKey{}).(*proxyCall)
	if call != nil {
		call.out.failed()
	}
	if call != nil && call.client.Err() != nil {
		setEnding(call.client, endingClientGone)
		p.metrics.errors.WithLabelValues(upstreamCanceled).Inc()
		p.logger.LogAttrs(r.Context(), slog.LevelDebug, "chat client went away before the upstream answered",
			slog.String("upstream", p.upstream.Host), slog.String("path", call.rest))
		// Nothing is answered: a client that only half-closed its side would
		// otherwise read the empty 200 gin writes after the handler.
		panic(http.ErrAbortHandler)
	}
	var (
		status    int
		code      string
		desc      string
		kind      string
		maxErr    *http.MaxBytesError
		bodyErr   *clientBodyError
		errorText = describeUpstreamError(err)
	)
	switch {
	case errors.As(err, &maxErr):
		status, code, desc, kind = http.StatusRequestEntityTooLarge, codeTooLarge, tooLarge(p.maxBody).desc, upstreamTooLarge
	case errors.As(err, &bodyErr), call != nil && call.in.failed.Load():
		// The client's fault, not the upstream's: no upstream error is counted.
		p.logger.LogAttrs(r.Context(), slog.LevelInfo, "chat request body could not be read",
			slog.String("error", describeClientBodyError(err)))
		writeChatError(w, http.StatusBadRequest, codeInvalidRequest, "the request body could not be read")
		return
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, errMaxStreamDuration),
		// A dial cut short by the timer reports only that it was canceled.
		errors.Is(context.Cause(r.Context()), errMaxStreamDuration):
		status, code, desc, kind = http.StatusGatewayTimeout, codeUpstreamTimeout, "the chat backend did not answer in time", upstreamTimeout
	default:
		status, code, desc, kind = http.StatusBadGateway, codeUpstreamUnavailable, "the chat backend could not be reached", upstreamUnreachable
	}
	p.metrics.errors.WithLabelValues(kind).Inc()
	attrs := []slog.Attr{
		slog.String("upstream", p.upstream.Host),
		slog.Int("status", status),
	}
	if call != nil {
		attrs = append(attrs, slog.String("path", call.rest), slog.String("api_key_fingerprint", call.keyFP))
	}
	attrs = append(attrs, slog.String("error", errorText))
	level := slog.LevelWarn
	if status == http.StatusRequestEntityTooLarge {
		level = slog.LevelInfo
	}
	p.logger.LogAttrs(r.Context(), level, "chat upstream request failed", attrs...)
	writeChatError(w, status, code, desc)
}

// describeUpstreamError says what went wrong with the upstream call in words that
// cannot carry a secret: the error's text is never used, since it may quote the
// outbound URL or, through a wrapped value, the key. Scrubbing the key out of the
// text instead is not safe: a short key matches inside ordinary words, and what is
// left around the mark gives it away.
func describeUpstreamError(err error) string {
	var (
		opErr  *net.OpError
		dnsErr *net.DNSError
		errno  syscall.Errno
	)
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, errBadUpgrade):
		return "not a valid WebSocket accept"
	case errors.Is(err, errMaxStreamDuration):
		return "max stream duration reached"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	case errors.As(err, &dnsErr):
		return "name resolution failed"
	case errors.As(err, &opErr) && errors.As(err, &errno):
		return opErr.Op + " " + opErr.Net + ": " + errno.Error()
	case errors.As(err, &opErr):
		return opErr.Op + " " + opErr.Net + " failed"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection closed by the upstream"
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return "request body too large"
	}
	var timeout interface{ Timeout() bool }
	if errors.As(err, &timeout) && timeout.Timeout() {
		return "timeout"
	}
	return fmt.Sprintf("upstream call failed (%T)", err)
}

// bufferPool lends the copy buffers of one proxy, so that a response does not
// cost a fresh 32 KiB. The pool holds *[]byte: a slice put into an interface
// directly would be copied to the heap on every Put (staticcheck SA6002).
type bufferPool struct{ pool sync.Pool }

func newBufferPool(size int) *bufferPool {
	bp := &bufferPool{}
	bp.pool.New = func() any {
		b := make([]byte, size)
		return &b
	}
	return bp
}

// Get implements httputil.BufferPool.
func (bp *bufferPool) Get() []byte { return *bp.pool.Get().(*[]byte) }

// Put implements httputil.BufferPool.
func (bp *bufferPool) Put(b []byte) { bp.pool.Put(&b) }
