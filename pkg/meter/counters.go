package meter

import "time"

// The counting rules. The local store applies them in Go ([counters.admit]);
// the Redis store applies the same rules in its Lua script (redis.go), and
// the tests run one table against both. What a decision reports (remaining,
// resets, waits) is derived here, in Go, for both, from the counters the store
// returns.
//
// Requests per minute: GCRA (the generic cell rate algorithm, as in RFC 2544's
// leaky bucket and redis_rate), in microseconds. A request is due every
// T = ⌈60 s / rpm⌉; tat, the theoretical arrival time, advances by T per
// request; a request conforms while tat+T−rpm·T ≤ now, so a burst of rpm
// passes at once and then one per T.
//
// Tokens per minute: two fixed one-minute windows, the current one (cur) and
// the one before (prev), in milliseconds; the load over the last minute is
// estimated as cur + prev·(remaining share of the current window). A request
// is admitted while the estimate is under the limit.
//
// Total tokens: used, the session's sum. Concurrent requests: inflight, the
// admitted requests not yet finished.

const (
	windowMS = 60_000     // the tokens window, ms
	minuteUS = 60_000_000 // a minute, µs
)

// Bits of a refusal mask; the Lua script uses the same values.
const (
	refusedTotal      uint8 = 1
	refusedTokens     uint8 = 2
	refusedRequests   uint8 = 4
	refusedConcurrent uint8 = 8
)

// counters is one session's state, the same locally and in Redis.
type counters struct {
	tat      int64 // GCRA theoretical arrival time, µs since the epoch
	win      int64 // index of the current token window: ms since the epoch / windowMS
	cur      int64 // tokens charged in window win
	prev     int64 // tokens charged in window win−1
	used     int64 // tokens charged over the session
	inflight int64 // admitted requests not yet finished
}

// interval is the GCRA emission interval for rpm > 0, µs (rounded up, so the
// rate never exceeds rpm).
func interval(rpm int64) int64 { return (minuteUS + rpm - 1) / rpm }

// roll moves the token windows forward to nowMS; a clock behind the current
// window (another replica's, slightly off) keeps it.
func (c *counters) roll(nowMS int64) {
	switch idx := nowMS / windowMS; {
	case idx == c.win+1:
		c.prev, c.cur, c.win = c.cur, 0, idx
	case idx > c.win+1:
		c.prev, c.cur, c.win = 0, 0, idx
	}
}

// elapsed is how far nowMS is into the current window, within [0, windowMS].
func (c *counters) elapsed(nowMS int64) int64 {
	return min(max(nowMS-c.win*windowMS, 0), windowMS)
}

// load is the estimated tokens of the last minute, times windowMS (exact).
func (c *counters) load(nowMS int64) int64 {
	return c.cur*windowMS + c.prev*(windowMS-c.elapsed(nowMS))
}

// admit applies the rules to one request at nowUS: it returns the refusal mask,
// and, when it is zero, counts the request.
func (c *counters) admit(l Limits, nowUS int64) uint8 {
	nowMS := nowUS / 1000
	c.roll(nowMS)
	var mask uint8
	if l.TotalTokens > 0 && c.used >= l.TotalTokens {
		mask |= refusedTotal
	}
	if l.TokensPerMinute > 0 && c.load(nowMS) >= l.TokensPerMinute*windowMS {
		mask |= refusedTokens
	}
	tat := c.tat
	if rpm := l.RequestsPerMinute; rpm > 0 {
		t := interval(rpm)
		tat = max(c.tat, nowUS) + t
		if nowUS < tat-rpm*t {
			mask |= refusedRequests
		}
	}
	if l.ConcurrentRequests > 0 && c.inflight >= l.ConcurrentRequests {
		mask |= refusedConcurrent
	}
	if mask == 0 {
		c.tat = tat
		if l.ConcurrentRequests > 0 {
			c.inflight++
		}
	}
	return mask
}

// charge adds tokens spent at nowMS.
func (c *counters) charge(tokens, nowMS int64) {
	c.roll(nowMS)
	c.cur += tokens
	c.used += tokens
}

// decide turns the counters after an admission and its refusal mask into a
// Decision.
func decide(c counters, mask uint8, l Limits, nowUS int64, expires time.Time, now time.Time) Decision {
	nowMS := nowUS / 1000
	d := Decision{Allowed: mask == 0}
	var wait time.Duration
	if rpm := l.RequestsPerMinute; rpm > 0 {
		t := interval(rpm)
		ahead := max(c.tat-nowUS, 0) // how far the bucket is spent, µs
		d.Requests = Window{
			Limit:     rpm,
			Remaining: max((rpm*t-ahead)/t, 0),
			Reset:     time.Duration(ahead) * time.Microsecond,
		}
		if mask&refusedRequests != 0 {
			wait = max(wait, time.Duration(ahead+t-rpm*t)*time.Microsecond)
		}
	}
	untilEnd := max(expires.Sub(now), 0)
	switch {
	case l.TokensPerMinute > 0:
		tpm := l.TokensPerMinute
		el := c.elapsed(nowMS)
		load := c.load(nowMS)
		est := (load + windowMS - 1) / windowMS
		reset := int64(0)
		switch {
		case c.cur > 0:
			reset = windowMS - el + windowMS
		case c.prev > 0:
			reset = windowMS - el
		}
		d.Tokens = Window{
			Limit:     tpm,
			Remaining: max(tpm-est, 0),
			Reset:     time.Duration(reset) * time.Millisecond,
		}
		if mask&refusedTokens != 0 {
			wait = max(wait, time.Duration(tokensWait(c, tpm, el))*time.Millisecond)
		}
	case l.TotalTokens > 0:
		d.Tokens = Window{
			Limit:     l.TotalTokens,
			Remaining: max(l.TotalTokens-c.used, 0),
			Reset:     untilEnd,
		}
	}
	if mask&refusedTotal != 0 {
		wait = max(wait, untilEnd)
	}
	if mask&refusedConcurrent != 0 {
		wait = max(wait, time.Second)
	}
	d.RetryAfter = wait
	switch {
	case mask&refusedTotal != 0:
		d.Refused = LimitTotalTokens
	case mask&refusedTokens != 0:
		d.Refused = LimitTokensPerMinute
	case mask&refusedRequests != 0:
		d.Refused = LimitRequestsPerMinute
	case mask&refusedConcurrent != 0:
		d.Refused = LimitConcurrentRequests
	}
	if !d.Allowed {
		d.RetryAfter = max(d.RetryAfter, time.Millisecond)
	}
	return d
}

// tokensWait is how many ms from now, el ms into the current window, the
// estimated load falls under tpm (with no new charges).
func tokensWait(c counters, tpm, el int64) int64 {
	if c.cur < tpm {
		// Within this window: prev·x < (tpm−cur)·W, x the ms left in it.
		if c.prev == 0 {
			return 1
		}
		xmax := ceilDiv((tpm-c.cur)*windowMS, c.prev) - 1
		return max(windowMS-el-xmax, 1)
	}
	// In the next window: cur·x < tpm·W, x the ms left in that window.
	xmax := ceilDiv(tpm*windowMS, c.cur) - 1
	return windowMS - el + windowMS - xmax
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
