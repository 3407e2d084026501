package server

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtgate/jwtgate/pkg/meter"
	"github.com/jwtgate/jwtgate/pkg/usage"
)

// Values of the kind label of jwtgate_chat_tokens_total.
const (
	tokenKindInput  = "input"
	tokenKindOutput = "output"
)

// Values of the model label besides the configured model names.
const (
	modelOther   = "other"   // a model not in limits.metrics_models
	modelUnknown = "unknown" // the request's body was not read (a session without limits on models, output or tokens)
)

// MaxMetricsModels bounds limits.metrics_models, and with it the model label.
const MaxMetricsModels = 100

// Validate checks the counting settings of c: limits.metrics_models holds at
// most [MaxMetricsModels] distinct names of 1 to 128 bytes of UTF-8, none of
// them "other" or "unknown" (the label's own values). Each problem names its
// key; no name is quoted, since a name may be anything.
func (c LimitsConfig) Validate() error {
	var errs []error
	if n := len(c.MetricsModels); n > MaxMetricsModels {
		errs = append(errs, fmt.Errorf("limits.metrics_models: at most %d names, got %d", MaxMetricsModels, n))
	}
	seen := make(map[string]bool, len(c.MetricsModels))
	for i, m := range c.MetricsModels {
		key := fmt.Sprintf("limits.metrics_models[%d]", i)
		switch {
		case m == "" || len(m) > maxModelLen || !utf8.ValidString(m):
			errs = append(errs, fmt.Errorf("%s: must be 1 to %d bytes of UTF-8", key, maxModelLen))
		case m == modelOther || m == modelUnknown:
			errs = append(errs, fmt.Errorf("%s: %s is the label of models not in the list", key, m))
		case seen[m]:
			errs = append(errs, fmt.Errorf("%s: listed twice", key))
		}
		seen[m] = true
	}
	return errors.Join(errs...)
}

// usageMetrics are the counting step's series. Every label has a bounded set
// of values: models are the configured list plus "other" and "unknown",
// limits and surfaces are fixed sets.
type usageMetrics struct {
	// models holds each model label's two series of tokens, resolved once so
	// that an answer costs one map lookup: limits.metrics_models, "other"
	// and "unknown".
	models map[string]modelTokens

	tokens      *prometheus.CounterVec // by model and kind
	estimated   prometheus.Counter
	missing     *prometheus.CounterVec // by surface
	parseErrors *prometheus.CounterVec // by surface
	refusals    *prometheus.CounterVec // by limit
}

// newUsageMetrics registers the counting step's series on reg, and the
// meter's state and counts as functions read at each scrape.
func newUsageMetrics(reg *prometheus.Registry, m *meter.Meter, models []string) (*usageMetrics, error) {
	um := &usageMetrics{
		models: make(map[string]modelTokens, len(models)+2),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtgate_chat_tokens_total",
			Help: "Tokens the chat answers reported, by model (limits.metrics_models, else other; unknown when the request body was not read) and kind (input, output).",
		}, []string{"model", "kind"}),
		estimated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jwtgate_chat_tokens_estimated_total",
			Help: "Tokens charged by estimate for chat answers that ended without reporting their usage.",
		}),
		missing: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtgate_chat_usage_missing_total",
			Help: "Successful chat answers of sessions with a token limit that ended without reporting their usage (a client that went away, a stream cut short, an upstream that reports none) and were charged an estimate, by API.",
		}, []string{"surface"}),
		parseErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtgate_chat_usage_malformed_total",
			Help: "Parts of chat answers whose usage could not be read (events that are not JSON, usage that is not a count), by API; the bytes were passed on all the same.",
		}, []string{"surface"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtgate_limits_refused_total",
			Help: "Chat requests refused with 429 by a session limit, by limit.",
		}, []string{"limit"}),
	}

	var err error
	if um.tokens, err = register(reg, um.tokens); err != nil {
		return nil, err
	}
	if um.estimated, err = register(reg, um.estimated); err != nil {
		return nil, err
	}
	if um.missing, err = register(reg, um.missing); err != nil {
		return nil, err
	}
	if um.parseErrors, err = register(reg, um.parseErrors); err != nil {
		return nil, err
	}
	if um.refusals, err = register(reg, um.refusals); err != nil {
		return nil, err
	}
	for _, s := range []meter.State{meter.StateLocal, meter.StateShared, meter.StateFallback} {
		g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "jwtgate_limits_state",
			Help:        "1 for where the session counters are now: local (no limits.redis_url), shared (in Redis) or fallback (Redis unreachable: this replica's own counters); 0 for the others.",
			ConstLabels: prometheus.Labels{"state": s.String()},
		}, func() float64 {
			if m.State() == s {
				return 1
			}
			return 0
		})
		if _, err := register(reg, g); err != nil {
			return nil, err
		}
	}
	funcs := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "jwtgate_limits_redis_errors_total",
			Help: "Redis calls of the session counters that failed.",
		}, func() float64 { return float64(m.Stats().RedisErrors) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "jwtgate_limits_local_decisions_total",
			Help: "Chat requests admitted or refused on this replica's own counters while Redis was unreachable.",
		}, func() float64 { return float64(m.Stats().LocalDecisions) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "jwtgate_limits_evictions_total",
			Help: "Sessions whose local counters were dropped because limits.max_sessions were held.",
		}, func() float64 { return float64(m.Stats().Evictions) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jwtgate_limits_sessions",
			Help: "Sessions with counters on this replica (bounded by limits.max_sessions).",
		}, func() float64 { return float64(m.Stats().Sessions) }),
	}
	for _, c := range funcs {
		if _, err := register(reg, c); err != nil {
			return nil, err
		}
	}

	// Pre-declare the series whose label values are known.
	for _, model := range append([]string{modelOther, modelUnknown}, models...) {
		um.models[model] = modelTokens{
			input:  um.tokens.WithLabelValues(model, tokenKindInput),
			output: um.tokens.WithLabelValues(model, tokenKindOutput),
		}
	}
	for _, s := range []usage.Surface{usage.SurfaceChatCompletions, usage.SurfaceResponses, usage.SurfaceMessages} {
		um.missing.WithLabelValues(s.String())
		um.parseErrors.WithLabelValues(s.String())
	}
	for _, l := range []meter.Limit{meter.LimitRequestsPerMinute, meter.LimitTokensPerMinute, meter.LimitTotalTokens, meter.LimitConcurrentRequests} {
		um.refusals.WithLabelValues(l.String())
	}
	return um, nil
}

// modelTokens are one model label's series of jwtgate_chat_tokens_total.
type modelTokens struct {
	input, output prometheus.Counter
}

// modelTokens returns the series of the model label that bounds model: a
// configured name as it is, anything else as "other", and "unknown" when the
// body was not read.
func (um *usageMetrics) modelTokens(model string) modelTokens {
	if model == "" {
		return um.models[modelUnknown]
	}
	if t, ok := um.models[model]; ok {
		return t
	}
	return um.models[modelOther]
}
