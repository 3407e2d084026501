package meter

import "time"

// Bounds on limits, so that the arithmetic (also Redis's, in doubles) stays
// exact: a larger limit is treated as the bound, which no session reaches.
const (
	maxLimit    = 100_000_000_000 // tokens; 1e11
	maxRequests = 60_000_000      // requests per minute: one per microsecond
)

// Limits are one session's limits, as its token carries them (claim lim).
// Zero means unlimited, for each member.
type Limits struct {
	// RequestsPerMinute is the request rate, with bursts of up to a minute's
	// worth: a session idle for a minute may send RequestsPerMinute requests
	// at once, then one every minute/RequestsPerMinute.
	RequestsPerMinute int64
	// TokensPerMinute bounds the tokens (input plus output) charged over the
	// last minute, estimated by a sliding window.
	TokensPerMinute int64
	// TotalTokens is the session's whole budget, refreshes included.
	TotalTokens int64
	// ConcurrentRequests bounds the requests admitted and not yet finished.
	ConcurrentRequests int64
}

// IsZero reports whether l limits nothing: [Meter.Admit] then admits without
// counting.
func (l Limits) IsZero() bool { return l == Limits{} }

// CountsTokens reports whether l has a token limit, so that the answers'
// usage must be read and charged.
func (l Limits) CountsTokens() bool { return l.TokensPerMinute > 0 || l.TotalTokens > 0 }

// clamped returns l with negative members as zero and large ones at the bounds.
func (l Limits) clamped() Limits {
	c := func(v, hi int64) int64 { return min(max(v, 0), hi) }
	return Limits{
		RequestsPerMinute:  c(l.RequestsPerMinute, maxRequests),
		TokensPerMinute:    c(l.TokensPerMinute, maxLimit),
		TotalTokens:        c(l.TotalTokens, maxLimit),
		ConcurrentRequests: c(l.ConcurrentRequests, maxLimit),
	}
}

// Key names one session's counters.
type Key struct {
	// Session is the session id (claim sid), kept across refreshes, so a
	// refreshed token shares its session's counters.
	Session string
	// Expires is when the session ends for good: its first token's issue time
	// plus the longest session age (jwt.max_session_age), not the current
	// token's exp. The counters are kept until then, so that total_tokens
	// holds across refreshes; an Expires in the past keeps them two minutes.
	Expires time.Time
}

// Limit names one of a session's limits.
type Limit uint8

// The limits, as a refused [Decision] names them.
const (
	LimitNone Limit = iota
	LimitRequestsPerMinute
	LimitTokensPerMinute
	LimitTotalTokens
	LimitConcurrentRequests
)

// Error codes of a refusal, as DESIGN.md fixes them.
const (
	CodeRateLimitExceeded = "rate_limit_exceeded"
	CodeBudgetExceeded    = "budget_exceeded"
)

// String is the limit's member name in the token and in POST /sessions
// ("requests_per_minute", ...), or "" for LimitNone.
func (l Limit) String() string {
	switch l {
	case LimitRequestsPerMinute:
		return "requests_per_minute"
	case LimitTokensPerMinute:
		return "tokens_per_minute"
	case LimitTotalTokens:
		return "total_tokens"
	case LimitConcurrentRequests:
		return "concurrent_requests"
	}
	return ""
}

// Code is the error code of a request refused by l: [CodeBudgetExceeded] for
// total_tokens, [CodeRateLimitExceeded] for the others, "" for LimitNone.
func (l Limit) Code() string {
	switch l {
	case LimitNone:
		return ""
	case LimitTotalTokens:
		return CodeBudgetExceeded
	}
	return CodeRateLimitExceeded
}

// Description says in a sentence why a request was refused by l.
func (l Limit) Description() string {
	switch l {
	case LimitRequestsPerMinute:
		return "the session's requests_per_minute limit is reached; retry after Retry-After seconds"
	case LimitTokensPerMinute:
		return "the session's tokens_per_minute limit is reached; retry after Retry-After seconds"
	case LimitTotalTokens:
		return "the session's total_tokens budget is spent"
	case LimitConcurrentRequests:
		return "the session's concurrent_requests limit is reached; retry when a request has finished"
	}
	return ""
}
