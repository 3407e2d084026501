package server

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jwtgate/jwtgate/pkg/ginauth"
)

// unmatchedRoute labels requests that matched no route, so that the raw path,
// which a client chooses freely, never becomes a label value.
const unmatchedRoute = "unmatched"

// metrics are the server's Prometheus series, registered on the registry given
// to [New]. Every label has a small, fixed set of values: routes are templates,
// methods are the standard ones or "other", reasons come from token.Labels.
type metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	issued         *prometheus.CounterVec
	verifyFailures *prometheus.CounterVec
	// interrupted counts requests whose response did not run to its end, by
	// ending (streamend.go).
	interrupted *prometheus.CounterVec
	upstream    *upstreamMetrics
	routes      sync.Map // route template -> *routeSeries (metricsbind.go)
}

// Kinds of failed chat upstream requests, the values of the kind label of
// jwtgate_upstream_errors_total.
const (
	upstreamUnreachable = "unreachable" // no connection, or no answer (502)
	upstreamTimeout     = "timeout"     // no headers in time (504), or a stream ended because the upstream was silent for chat.idle_timeout or ran past chat.max_stream_duration
	upstreamCanceled    = "canceled"    // the client went away before the upstream answered
	upstreamTooLarge    = "too_large"   // the request body is larger than chat.max_body_bytes (413)
	upstreamBroken      = "broken"      // the response broke off after its headers (the connection closed or reset mid-body)
)

// upstreamMetrics are the chat proxy's series.
type upstreamMetrics struct {
	// duration is the time from sending a request upstream to its response
	// headers, by status code: the upstream's latency, whatever the length of
	// the stream that follows.
	duration *prometheus.HistogramVec
	// errors counts requests the upstream did not answer, by kind.
	errors *prometheus.CounterVec
	codes  byCode[prometheus.Observer] // duration's bound children (metricsbind.go)
}

// newUpstreamMetrics returns the chat proxy's series, not yet registered, with
// every error kind pre-declared at 0.
func newUpstreamMetrics() *upstreamMetrics {
	u := &upstreamMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jwtgate_upstream_request_duration_seconds",
			Help:    "Time from forwarding a chat request to the upstream's response headers, by status code.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtgate_upstream_errors_total",
			Help: "Chat upstream requests that failed, by kind (unreachable, timeout, canceled, too_large, broken).",
		}, []string{"kind"}),
	}
	for _, kind := range []string{upstreamUnreachable, upstreamTimeout, upstreamCanceled, upstreamTooLarge, upstreamBroken} {
		u.errors.WithLabelValues(kind)
	}
	return u
}

func newMetrics(reg *prometheus.Registry, version string) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtgate_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jwtgate_http_request_duration_seconds",
			Help: "Time to answer HTTP requests, by route template and method.",
			// Up to minutes: streamed chat responses last that long.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"route", "method"}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtgate_tokens_issued_total",
			Help: "Session tokens issued, by kind (new or refresh).",
		}, []string{"kind"}),
		verifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtgate_token_verify_failures_total",
			Help: "Session tokens and DPoP proofs refused, by reason.",
		}, []string{"reason"}),
		interrupted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtgate_http_requests_interrupted_total",
			Help: "HTTP requests whose response did not run to its end, by ending (client_gone, idle_timeout, client_idle_timeout, max_stream_duration, upstream_error, aborted).",
		}, []string{"ending"}),
		upstream: newUpstreamMetrics(),
	}
	if version == "" {
		version = "unknown"
	}
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "jwtgate_build_info",
		Help: "Always 1; the version label names the running build.",
	}, []string{"version"})
	info.WithLabelValues(version).Set(1)

	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.duration, err = register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.issued, err = register(reg, m.issued); err != nil {
		return nil, err
	}
	if m.verifyFailures, err = register(reg, m.verifyFailures); err != nil {
		return nil, err
	}
	if m.interrupted, err = register(reg, m.interrupted); err != nil {
		return nil, err
	}
	if m.upstream.duration, err = register(reg, m.upstream.duration); err != nil {
		return nil, err
	}
	if m.upstream.errors, err = register(reg, m.upstream.errors); err != nil {
		return nil, err
	}
	if _, err = register(reg, info); err != nil {
		return nil, err
	}
	if _, err = register(reg, collectors.NewGoCollector()); err != nil {
		return nil, err
	}
	if _, err = register(reg, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, err
	}

	// Pre-declare the series whose label values are known, so they read 0
	// rather than being absent until the first event.
	for _, kind := range []string{"new", "refresh"} {
		m.issued.WithLabelValues(kind)
	}
	for _, reason := range ginauth.Labels() {
		m.verifyFailures.WithLabelValues(reason)
	}
	for _, ending := range endings() {
		m.interrupted.WithLabelValues(ending)
	}
	return m, nil
}

// register registers c on reg. If an equal collector is already there (a second
// server sharing the registry, or Go collectors the caller registered), that one
// is used instead.
func register[C prometheus.Collector](reg *prometheus.Registry, c C) (C, error) {
	err := reg.Register(c)
	if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	if err != nil {
		return c, fmt.Errorf("registering metrics: %w", err)
	}
	return c, nil
}

// observeAuthFailure is the middleware's error hook: it counts refused tokens by
// reason and notes the reason for the access log. Requests without a token or
// with a malformed header are not verification failures and are not counted.
func (m *metrics) observeAuthFailure(logger *slog.Logger) func(c *gin.Context, err error) {
	return func(c *gin.Context, err error) {
		info := infoOf(c)
		label, _ := ginauth.Reason(err)
		info.authFailure = label
		if errors.Is(err, ginauth.ErrNoToken) || errors.Is(err, ginauth.ErrBadRequest) {
			return
		}
		m.verifyFailures.WithLabelValues(label).Inc()
		// The token package's errors never hold the token or the key.
		logger.LogAttrs(c.Request.Context(), slog.LevelDebug, "token refused",
			slog.String("reason", label), slog.String("error", err.Error()))
	}
}

// methodLabel bounds the method label: net/http accepts any token as a method.
// The standard methods are their own label, anything else is "other"
// (methodLabels, methodIndex).
func methodLabel(m string) string { return methodLabels[methodIndex(m)] }

// handleMetrics serves GET /metrics from reg.
func handleMetrics(reg *prometheus.Registry, logger *slog.Logger) gin.HandlerFunc {
	return gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}))
}
