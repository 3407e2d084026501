package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtgate/jwtgate/pkg/meter"
	"github.com/jwtgate/jwtgate/pkg/token"
	"github.com/jwtgate/jwtgate/pkg/usage"
)

// Counting of /chat/* requests (docs/DESIGN.md, "Session limits"): the
// counting step admits a request of a session with counted limits
// (requests_per_minute, tokens_per_minute, total_tokens, concurrent_requests)
// through a [meter.Meter] before anything is forwarded or answered, and
// charges the answer's usage once it has ended. It runs after the limits step
// (limits.go), so a request refused there is not counted, and before the proxy
// and the echo backend:
//
//   - The proxy reads the usage of every answer of the three APIs that report
//     it (chat completions, Responses, Messages) as its bytes pass
//     ([usage.Reader]), for every session, so that the tokens metric and the
//     access line show all traffic. It asks for those answers uncompressed.
//   - For a session that counts tokens, the limits step makes a streamed chat
//     completion ask for its usage chunk (stream_options.include_usage) and
//     the proxy removes that chunk again, so the client gets the stream it
//     asked for.
//   - The echo backend knows its usage and reports it ([reportEchoUsage]).
//
// An answer that ends without its usage (a client that went away before the
// usage chunk, a stream cut short, an upstream that reports none) is charged an
// estimate, so that aborting a stream is no way around a budget: four bytes of
// request body per input token, and one output token per streamed event
// (chat and Messages streams send about one token per event). A stream cut
// after its usage began to arrive (Messages reports its input first) is
// charged at least one output token per event. Answers that are not 2xx are
// charged nothing, as the upstreams charge nothing for them.

// bytesPerEstimatedToken is how many request-body bytes count as one input
// token when an answer reports no usage: the usual rule of thumb for English
// text and JSON.
const bytesPerEstimatedToken = 4

// maxModelLen bounds the model name the access line carries: the client chooses it.
const maxModelLen = 128

// callUsage is what counting learns about one /chat/* request: for its
// charge, the metrics and the access line. It lives in the request's
// requestInfo; only the goroutine serving the request touches it.
type callUsage struct {
	session string        // the session id; "" before the counting step
	surface usage.Surface // the API of the path after /chat
	model   string        // the body's model, when it was read
	bodyLen int64         // the request body's length when it was read, else its Content-Length
	// limited: jwtgate sets the session's x-ratelimit-* headers, so the
	// upstream's are dropped.
	limited bool
	// counted: the session has a token limit, so an answer without its usage
	// is charged an estimate.
	counted  bool
	injected bool              // jwtgate added stream_options.include_usage
	buffers  *usage.BufferPool // lends a stripping reader its buffers
	reader   *usage.Reader     // the proxied answer's body, when read
	echo     usage.Result      // what the echo backend reported
	echoed   bool
	refused  meter.Limit  // the limit that refused the request (429)
	res      usage.Result // the answer's usage, once it ended
	charged  int64        // tokens charged
	guessed  bool         // charged an estimate: the answer reported no usage
}

// chatUsageOf returns the counting state of the request of ctx, or nil outside
// [observe] (a handler under test on its own), where nothing is counted.
func chatUsageOf(ctx context.Context) *callUsage {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return &info.chat
	}
	return nil
}

// setModel notes the body's model, cut to maxModelLen bytes of valid UTF-8.
func (u *callUsage) setModel(model []byte) {
	if u == nil {
		return
	}
	if len(model) > maxModelLen {
		model = model[:maxModelLen]
		for len(model) > 0 && !utf8.Valid(model) {
			model = model[:len(model)-1]
		}
	}
	if utf8.Valid(model) { // always, from a body the strict decoder read
		u.model = string(model)
		return
	}
	u.model = strings.ToValidUTF8(string(model), "\uFFFD")
}

func (u *callUsage) setInjected(injected bool) {
	if u != nil {
		u.injected = injected
	}
}

// reportEchoUsage is how the echo backend reports an answer's usage: it knows
// it before it writes a byte, so a client that goes away mid-stream is charged
// all of it.
func reportEchoUsage(c *gin.Context, model string, input, output int) {
	u := chatUsageOf(c.Request.Context())
	if u == nil {
		return
	}
	u.echo = usage.Result{Usage: usage.Usage{InputTokens: int64(input), OutputTokens: int64(output)}, Found: true}
	u.echoed = true
	if u.model == "" {
		u.setModel([]byte(model))
	}
}

// meterLimits returns the counted members of lim as the meter takes them.
func meterLimits(lim token.Limits) meter.Limits {
	return meter.Limits{
		RequestsPerMinute:  lim.RequestsPerMinute(),
		TokensPerMinute:    lim.TokensPerMinute(),
		TotalTokens:        lim.TotalTokens(),
		ConcurrentRequests: lim.ConcurrentRequests(),
	}
}

// metering is the counting step, built once by [New].
type metering struct {
	m          *meter.Meter
	sessionAge time.Duration // jwt.max_session_age: how long a session's counters live
	metrics    *usageMetrics
	logger     *slog.Logger
	buffers    *usage.BufferPool // the stripping readers' buffers
}

// newMetering builds the counting step over m (nil: a meter with local
// counters of default capacity), registering its metrics on reg.
func newMetering(cfg LimitsConfig, m *meter.Meter, reg *prometheus.Registry, logger *slog.Logger) (*metering, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		var err error
		if m, err = meter.New(meter.WithLogger(logger)); err != nil {
			return nil, fmt.Errorf("building the session counters: %w", err)
		}
	}
	um, err := newUsageMetrics(reg, m, cfg.MetricsModels)
	if err != nil {
		return nil, err
	}
	age := cfg.MaxSessionAge
	if age <= 0 {
		age = token.DefaultMaxSessionAge
	}
	return &metering{m: m, sessionAge: age, metrics: um, logger: logger, buffers: usage.NewBufferPool()}, nil
}

// handle is the counting step's gin handler.
func (mt *metering) handle(c *gin.Context) {
	ctx := c.Request.Context()
	claims, ok := token.FromContext(ctx)
	if !ok {
		return // no verified session: the chat handler refuses the request
	}
	info := infoOf(c)
	u := &info.chat
	u.session = claims.SessionID
	u.buffers = mt.buffers
	rest := c.Param("path")
	u.surface = usage.SurfaceOf(rest)
	if u.bodyLen == 0 {
		u.bodyLen = max(c.Request.ContentLength, 0)
	}

	lim := meterLimits(claims.Limits)
	d := mt.m.Admit(ctx, meter.Key{Session: claims.SessionID, Expires: claims.SessionStart.Add(mt.sessionAge)}, lim)
	d.SetHeaders(c.Writer.Header())
	u.limited = d.Requests.Limit > 0 || d.Tokens.Limit > 0
	u.counted = lim.CountsTokens()
	if !d.Allowed {
		u.refused = d.Refused
		mt.metrics.refusals.WithLabelValues(d.Refused.String()).Inc()
		respondError(c, &apiError{status: http.StatusTooManyRequests, code: d.Code(), desc: d.Refused.Description()})
		return
	}
	// Deferred, so that the answer is charged and the slot released however
	// the handler ends: the proxy aborts a cut stream with a panic.
	defer func() {
		v := recover()
		mt.finish(ctx, c.Writer.Status(), info, d)
		if v != nil {
			panic(v)
		}
	}()
	c.Next()
}

// finish charges what the answer spent, releases the request's slot and
// counts its tokens.
func (mt *metering) finish(ctx context.Context, status int, info *requestInfo, d meter.Decision) {
	u := &info.chat
	res := u.echo
	if u.reader != nil {
		res = u.reader.Result()
	}
	u.res = res
	tokens := res.Usage.Total()
	switch {
	case res.Found && info.ending != "":
		// Cut short after its usage began (Messages reports the input
		// first): at least one output token per event the client got.
		tokens = res.Usage.InputTokens + max(res.Usage.OutputTokens, int64(res.Events))
	case !res.Found && u.counted && u.reader != nil && status/100 == 2:
		// A 2xx answer of a usage API that reported none. (The streamed chat
		// completion of a session that counts no tokens is not asked for
		// its usage: that is no missing usage.)
		tokens = (u.bodyLen+bytesPerEstimatedToken-1)/bytesPerEstimatedToken + int64(res.Events)
		u.guessed = true
		mt.metrics.missing.WithLabelValues(u.surface.String()).Inc()
		mt.metrics.estimated.Add(float64(tokens))
	}
	u.charged = tokens
	// Queued, not sent: the charge and the slot's release reach Redis with
	// this replica's next admission or within the meter's charge delay, so
	// that a request costs one round trip to Redis, its admission.
	mt.m.FinishAsync(d, tokens)

	if res.Found {
		t := mt.metrics.modelTokens(u.model)
		t.input.Add(float64(res.Usage.InputTokens))
		t.output.Add(float64(res.Usage.OutputTokens))
	}
	if res.Malformed > 0 {
		mt.metrics.parseErrors.WithLabelValues(u.surface.String()).Add(float64(res.Malformed))
		mt.logger.LogAttrs(ctx, slog.LevelWarn, "chat answer's usage could not be read",
			slog.String("surface", u.surface.String()), slog.Int("malformed", res.Malformed),
			slog.Bool("usage_found", res.Found), slog.String("session_id", u.session))
	}
}

// appendChatAttrs adds to a /chat/* request's access line its session id (sid,
// from the verified token), the body's model, the answer's usage and what was
// charged.
func appendChatAttrs(attrs []slog.Attr, u *callUsage, sid string) []slog.Attr {
	if sid == "" {
		return attrs
	}
	attrs = append(attrs, slog.String("session_id", sid))
	if u.model != "" {
		attrs = append(attrs, slog.String("model", u.model))
	}
	if u.res.Found {
		attrs = append(attrs, slog.Int64("input_tokens", u.res.Usage.InputTokens),
			slog.Int64("output_tokens", u.res.Usage.OutputTokens))
	}
	if u.guessed {
		attrs = append(attrs, slog.Int64("estimated_tokens", u.charged))
	}
	if u.refused != meter.LimitNone {
		attrs = append(attrs, slog.String("limit", u.refused.String()))
	}
	return attrs
}

// injectStreamUsage makes the streamed chat completion in mb, scanned into s,
// ask for its usage chunk, and reports whether it had to. In the common case
// (no stream_options member) the member is spliced in before the closing
// brace, beside a cap the limits step added there, without copying the body;
// otherwise [usage.IncludeStreamUsage], which owns the rule, rewrites a copy.
func injectStreamUsage(r *http.Request, mb *memBody, s *bodyScan) bool {
	body := mb.parts[0]
	if !s.options {
		switch {
		case len(mb.parts[1])+len(mb.parts[2]) == 0:
			add := append(append(mb.spare[:0], ','), usage.StreamOptionsMember...)
			mb.parts = [3][]byte{body[:s.closing], add, body[s.closing:]}
			setBody(r, mb)
			return true
		case len(mb.parts[2]) == 1:
			// The cap was spliced in (added or in place of a null) right
			// before the closing brace: the member follows it.
			mb.parts[1] = append(append(mb.parts[1], ','), usage.StreamOptionsMember...)
			setBody(r, mb)
			return true
		}
	}
	if len(mb.parts[1])+len(mb.parts[2]) > 0 {
		body = make([]byte, 0, mb.Len())
		for _, p := range mb.parts {
			body = append(body, p...)
		}
	}
	out, injected, err := usage.IncludeStreamUsage(body)
	if err != nil || !injected {
		return false // the body was checked strictly already; left as it is
	}
	mb.parts = [3][]byte{out}
	mb.i = 0
	setBody(r, mb)
	return true
}

// rateLimitHeaderPrefix starts the x-ratelimit-* headers, canonicalized.
const rateLimitHeaderPrefix = "X-Ratelimit-"

// readUsage is the proxy's part of counting, from ModifyResponse: for a limited
// session it drops the upstream's x-ratelimit-* headers (the session's own are
// set already), and it wraps a 2xx answer of a usage API in a [usage.Reader],
// which strips the usage chunk jwtgate asked for. A stripped stream loses its
// Content-Length.
func readUsage(res *http.Response, u *callUsage) {
	if u == nil {
		return
	}
	if u.limited {
		for k := range res.Header {
			if strings.HasPrefix(k, rateLimitHeaderPrefix) {
				delete(res.Header, k)
			}
		}
	}
	if u.surface == usage.SurfaceUnknown || res.StatusCode/100 != 2 {
		return
	}
	f := usage.FormatOf(res.Header.Get("Content-Type"), res.Header.Get("Content-Encoding"))
	var r *usage.Reader
	if u.injected {
		// The proxy closes the body once it is copied: the buffers go back then.
		r = usage.NewReader(res.Body, u.surface, f, usage.StripUsageChunk(), usage.WithBufferPool(u.buffers))
		if f == usage.FormatEventStream {
			res.ContentLength = -1
			res.Header.Del("Content-Length")
		}
	} else {
		r = usage.NewReader(res.Body, u.surface, f)
	}
	res.Body = r
	u.reader = r
}

// readsUsage reports whether the answer to the request, by the API of its path,
// has usage to read, so that it is asked for uncompressed.
func (u *callUsage) readsUsage() bool { return u != nil && u.surface != usage.SurfaceUnknown }
