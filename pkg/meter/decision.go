package meter

import (
	"net/http"
	"strconv"
	"time"
)

// Decision is the outcome of [Meter.Admit]: whether the request may go on,
// and what its answer tells the client about the session's limits.
type Decision struct {
	// Allowed reports that the request was admitted (and counted).
	Allowed bool
	// Refused names the limit that refused it: LimitNone when allowed. Of
	// several, total_tokens comes first, then tokens_per_minute,
	// requests_per_minute and concurrent_requests.
	Refused Limit
	// RetryAfter is, when refused, how long until every refusing limit would
	// admit the request: a rate limit's wait, the session's remaining life
	// for total_tokens, one second for concurrent_requests (a slot frees when
	// a request ends, which nobody can foretell).
	RetryAfter time.Duration
	// Requests describes requests_per_minute; its Limit is 0 when the session
	// has none.
	Requests Window
	// Tokens describes tokens_per_minute, or, for a session with only a
	// total_tokens budget, that budget (Reset: until the session ends); its
	// Limit is 0 when the session has neither.
	Tokens Window

	// What Finish needs: whose counters, in which store, and the slot held.
	key     Key
	limits  Limits
	backend uint8
	gen     uint64 // the local entry's generation, for releasing its slot
	lease   string // the Redis lease id, when a slot was taken there
	leased  bool
}

// Window is one limit's state as the x-ratelimit-* headers show it.
type Window struct {
	// Limit is the limit itself; 0 means the session has no such limit.
	Limit int64
	// Remaining is what is left of it now (after this request, if admitted).
	Remaining int64
	// Reset is how long until the limit is back to its full value.
	Reset time.Duration
}

// Backends of a decision.
const (
	backendNone uint8 = iota // nothing counted
	backendLocal
	backendRedis
)

// Code is the error code of a refused decision ([Limit.Code]); "" if allowed.
func (d Decision) Code() string { return d.Refused.Code() }

// SetHeaders writes the session's x-ratelimit-limit-, -remaining- and
// -reset-requests headers (when it has a request limit) and the three -tokens
// ones (when it has a token limit), in OpenAI's format (reset as a duration
// such as "1s" or "6m0s"), and Retry-After in whole seconds, at least 1, when
// refused. An unlimited session gets none of them.
func (d Decision) SetHeaders(h http.Header) {
	// Every answer of a limited session carries these: the values are
	// written into one buffer and one string, and the keys (canonical
	// already) set directly, so that the six headers cost two allocations.
	var buf [128]byte
	b := buf[:0]
	var ends [7]int
	var keys [7]string
	n := 0
	add := func(key string, v []byte) {
		b = append(b, v...)
		keys[n], ends[n] = key, len(b)
		n++
	}
	var num [24]byte
	if d.Requests.Limit > 0 {
		add("X-Ratelimit-Limit-Requests", strconv.AppendInt(num[:0], d.Requests.Limit, 10))
		add("X-Ratelimit-Remaining-Requests", strconv.AppendInt(num[:0], d.Requests.Remaining, 10))
		add("X-Ratelimit-Reset-Requests", appendReset(num[:0], d.Requests.Reset))
	}
	if d.Tokens.Limit > 0 {
		add("X-Ratelimit-Limit-Tokens", strconv.AppendInt(num[:0], d.Tokens.Limit, 10))
		add("X-Ratelimit-Remaining-Tokens", strconv.AppendInt(num[:0], d.Tokens.Remaining, 10))
		add("X-Ratelimit-Reset-Tokens", appendReset(num[:0], d.Tokens.Reset))
	}
	if !d.Allowed && d.Refused != LimitNone {
		add("Retry-After", strconv.AppendInt(num[:0], retrySeconds(d.RetryAfter), 10))
	}
	if n == 0 {
		return
	}
	all := string(b)
	vals := make([]string, n)
	start := 0
	for i := range n {
		vals[i] = all[start:ends[i]]
		start = ends[i]
		h[keys[i]] = vals[i : i+1 : i+1]
	}
}

// retrySeconds rounds a wait up to whole seconds, at least 1.
func retrySeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// appendReset appends a reset duration as OpenAI writes it ("20ms", "1.5s",
// "6m0s"): rounded up to the millisecond under a minute, to the second above.
func appendReset(dst []byte, d time.Duration) []byte {
	if d <= 0 {
		return append(dst, "0s"...)
	}
	unit := time.Millisecond
	if d >= time.Minute {
		unit = time.Second
	}
	return append(dst, ((d + unit - 1) / unit * unit).String()...)
}
