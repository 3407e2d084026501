package meter_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/jwtgate/jwtgate/pkg/meter"
)

var ignoreInternals = cmpopts.IgnoreUnexported(meter.Decision{})

// want builds the exported part of a Decision.
func allowed(req, tok meter.Window) meter.Decision {
	return meter.Decision{Allowed: true, Requests: req, Tokens: tok}
}

func checkDecision(t *testing.T, step string, got, want meter.Decision) {
	t.Helper()
	if diff := cmp.Diff(want, got, ignoreInternals); diff != "" {
		t.Errorf("%s: decision (-want +got):\n%s", step, diff)
	}
}

func TestRequestsPerMinute(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	m := newTestMeter(t, clk)
	k := sessionKey(clk, "s1")
	l := meter.Limits{RequestsPerMinute: 3}
	for i := range 3 {
		d := m.Admit(ctx, k, l)
		checkDecision(t, fmt.Sprintf("request %d", i+1), d,
			allowed(meter.Window{Limit: 3, Remaining: int64(2 - i), Reset: time.Duration(i+1) * 20 * time.Second}, meter.Window{}))
		m.Finish(ctx, d, 0)
	}
	d := m.Admit(ctx, k, l)
	checkDecision(t, "request 4", d, meter.Decision{
		Refused: meter.LimitRequestsPerMinute, RetryAfter: 20 * time.Second,
		Requests: meter.Window{Limit: 3, Remaining: 0, Reset: time.Minute},
	})
	if d.Code() != meter.CodeRateLimitExceeded {
		t.Errorf("code %q", d.Code())
	}
	clk.Advance(20*time.Second - time.Microsecond)
	if d := m.Admit(ctx, k, l); d.Allowed {
		t.Error("admitted a microsecond before its turn")
	}
	clk.Advance(time.Microsecond)
	checkDecision(t, "after 20s", m.Admit(ctx, k, l),
		allowed(meter.Window{Limit: 3, Remaining: 0, Reset: time.Minute}, meter.Window{}))
	clk.Advance(time.Hour)
	checkDecision(t, "after an idle hour", m.Admit(ctx, k, l),
		allowed(meter.Window{Limit: 3, Remaining: 2, Reset: 20 * time.Second}, meter.Window{}))
}

func TestTokensPerMinute(t *testing.T) {
	ctx := t.Context()
	clk := newClock() // 30 s into a window
	m := newTestMeter(t, clk)
	k := sessionKey(clk, "s1")
	l := meter.Limits{TokensPerMinute: 1000}

	d := m.Admit(ctx, k, l)
	checkDecision(t, "first", d, allowed(meter.Window{}, meter.Window{Limit: 1000, Remaining: 1000}))
	m.Finish(ctx, d, 600)

	d = m.Admit(ctx, k, l)
	// 600 in this window: gone from the estimate 90 s from now.
	checkDecision(t, "second", d, allowed(meter.Window{}, meter.Window{Limit: 1000, Remaining: 400, Reset: 90 * time.Second}))
	m.Finish(ctx, d, 600)

	// 1200 in this window. In the next one the estimate is 1200·(1−s/60 s),
	// under 1000 once s > 10 s: 40 s from now.
	d = m.Admit(ctx, k, l)
	checkDecision(t, "over", d, meter.Decision{
		Refused: meter.LimitTokensPerMinute, RetryAfter: 40*time.Second + time.Millisecond,
		Tokens: meter.Window{Limit: 1000, Remaining: 0, Reset: 90 * time.Second},
	})
	m.Finish(ctx, d, 500) // refused: charges nothing
	clk.Advance(40 * time.Second)
	if d := m.Admit(ctx, k, l); d.Allowed {
		t.Fatalf("admitted at exactly 1000 tokens: %+v", d)
	}
	clk.Advance(time.Millisecond)
	d = m.Admit(ctx, k, l)
	if !d.Allowed || d.Tokens.Remaining != 0 {
		t.Fatalf("40.001 s later: %+v, want admitted with 0 remaining (estimate 999.98)", d)
	}
	clk.Advance(time.Minute)
	if d := m.Admit(ctx, k, l); !d.Allowed || d.Tokens.Remaining != 1000 {
		t.Errorf("two windows later: %+v, want all 1000 back", d)
	}
}

func TestTotalTokens(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	m := newTestMeter(t, clk)
	k := sessionKey(clk, "s1") // ends in an hour
	l := meter.Limits{TotalTokens: 1000}

	d := m.Admit(ctx, k, l)
	checkDecision(t, "first", d, allowed(meter.Window{}, meter.Window{Limit: 1000, Remaining: 1000, Reset: time.Hour}))
	m.Finish(ctx, d, 999)
	d = m.Admit(ctx, k, l)
	if !d.Allowed || d.Tokens.Remaining != 1 {
		t.Fatalf("with 1 token left: %+v, want admitted", d)
	}
	m.Finish(ctx, d, 2000) // the overshoot: charged in full
	clk.Advance(30 * time.Minute)
	d = m.Admit(ctx, k, l)
	checkDecision(t, "spent", d, meter.Decision{
		Refused: meter.LimitTotalTokens, RetryAfter: 30 * time.Minute,
		Tokens: meter.Window{Limit: 1000, Remaining: 0, Reset: 30 * time.Minute},
	})
	if d.Code() != meter.CodeBudgetExceeded {
		t.Errorf("code %q, want %q", d.Code(), meter.CodeBudgetExceeded)
	}
	// A refreshed token: same session, same counters.
	k2 := meter.Key{Session: "s1", Expires: k.Expires}
	if d := m.Admit(ctx, k2, l); d.Allowed {
		t.Error("the refreshed token got a fresh budget")
	}
	if d := m.Admit(ctx, sessionKey(clk, "s2"), l); !d.Allowed {
		t.Error("another session was refused")
	}
}

func TestConcurrentRequests(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	m := newTestMeter(t, clk)
	k := sessionKey(clk, "s1")
	l := meter.Limits{ConcurrentRequests: 2}
	a, b := m.Admit(ctx, k, l), m.Admit(ctx, k, l)
	if !a.Allowed || !b.Allowed {
		t.Fatal("refused within the limit")
	}
	d := m.Admit(ctx, k, l)
	checkDecision(t, "third", d, meter.Decision{Refused: meter.LimitConcurrentRequests, RetryAfter: time.Second})
	m.Finish(ctx, d, 0) // a refused decision holds no slot
	m.Finish(ctx, a, 0)
	c := m.Admit(ctx, k, l)
	if !c.Allowed {
		t.Fatal("refused after a slot was freed")
	}
	if d := m.Admit(ctx, k, l); d.Allowed {
		t.Fatal("admitted a third while two are in flight")
	}
	m.Finish(ctx, b, 0)
	m.Finish(ctx, c, 0)
	if d := m.Admit(ctx, k, l); !d.Allowed {
		t.Fatal("refused with nothing in flight")
	}
}

// TestRefusalOrder: of several limits refusing, total_tokens is named first,
// and Retry-After covers every one of them.
func TestRefusalOrder(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	m := newTestMeter(t, clk)
	k := sessionKey(clk, "s1")
	l := meter.Limits{RequestsPerMinute: 1, TokensPerMinute: 100, ConcurrentRequests: 1}
	d := m.Admit(ctx, k, l)
	m.Finish(ctx, d, 150)
	held := m.Admit(ctx, k, meter.Limits{ConcurrentRequests: 1})
	d = m.Admit(ctx, k, l)
	if d.Allowed || d.Refused != meter.LimitTokensPerMinute {
		t.Fatalf("%+v: want refused by tokens_per_minute", d)
	}
	if d.RetryAfter != time.Minute {
		t.Errorf("RetryAfter %s, want the request rate's 1m0s (the longest wait)", d.RetryAfter)
	}
	m.Finish(ctx, held, 0)
	l.TotalTokens = 100
	if d := m.Admit(ctx, k, l); d.Refused != meter.LimitTotalTokens {
		t.Errorf("refused by %v, want total_tokens", d.Refused)
	}
}

// TestOvershootBound: whatever the interleaving, a session spends at most its
// budget plus one request's usage per concurrent request.
func TestOvershootBound(t *testing.T) {
	ctx := t.Context()
	const (
		budget  = 10_000
		conc    = 4
		maxUse  = 700
		attempt = 2000
	)
	rng := rand.New(rand.NewPCG(1, 2))
	clk := newClock()
	m := newTestMeter(t, clk)
	k := sessionKey(clk, "s1")
	l := meter.Limits{TotalTokens: budget, ConcurrentRequests: conc}
	var inflight []meter.Decision
	var spent int64
	for range attempt {
		if len(inflight) > 0 && rng.IntN(2) == 0 {
			i := rng.IntN(len(inflight))
			use := rng.Int64N(maxUse + 1)
			m.Finish(ctx, inflight[i], use)
			spent += use
			inflight = append(inflight[:i], inflight[i+1:]...)
			continue
		}
		if d := m.Admit(ctx, k, l); d.Allowed {
			inflight = append(inflight, d)
		}
	}
	for _, d := range inflight {
		m.Finish(ctx, d, maxUse)
		spent += maxUse
	}
	if spent < budget {
		t.Fatalf("spent %d: the run never reached the budget", spent)
	}
	if bound := int64(budget - 1 + conc*maxUse); spent > bound {
		t.Errorf("spent %d, over the bound %d", spent, bound)
	}
}

func TestUnlimited(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	m := newTestMeter(t, clk)
	d := m.Admit(ctx, sessionKey(clk, "s1"), meter.Limits{})
	checkDecision(t, "unlimited", d, meter.Decision{Allowed: true})
	h := http.Header{}
	d.SetHeaders(h)
	if len(h) != 0 {
		t.Errorf("headers %v, want none", h)
	}
	m.Finish(ctx, d, 1000)
	if s := m.Stats(); s.Sessions != 0 {
		t.Errorf("an unlimited session got counters: %+v", s)
	}
	if m.State() != meter.StateLocal || m.State().String() != "local" {
		t.Errorf("state %v", m.State())
	}
}

// TestNegativeAndHugeLimits: nonsense limits neither break the arithmetic nor
// refuse wrongly.
func TestNegativeAndHugeLimits(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	m := newTestMeter(t, clk)
	k := sessionKey(clk, "s1")
	if d := m.Admit(ctx, k, meter.Limits{RequestsPerMinute: -5, TotalTokens: -1}); !d.Allowed || d.Requests.Limit != 0 {
		t.Errorf("negative limits: %+v, want unlimited", d)
	}
	huge := meter.Limits{RequestsPerMinute: 1 << 62, TokensPerMinute: 1 << 62, TotalTokens: 1 << 62, ConcurrentRequests: 1 << 62}
	for range 100 {
		d := m.Admit(ctx, k, huge)
		if !d.Allowed {
			t.Fatalf("refused under huge limits: %+v", d)
		}
		m.Finish(ctx, d, 1<<20)
	}
	// A charge past every bound is taken as the bound: the budget is spent,
	// and nothing wraps around.
	m.Finish(ctx, m.Admit(ctx, k, huge), 1<<62)
	d := m.Admit(ctx, k, huge)
	if d.Allowed || d.Refused != meter.LimitTotalTokens || d.Tokens.Remaining != 0 {
		t.Errorf("after a huge charge: %+v, want refused by total_tokens with 0 remaining", d)
	}
}

func TestSetHeaders(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	m := newTestMeter(t, clk)
	k := sessionKey(clk, "s1")
	l := meter.Limits{RequestsPerMinute: 2, TokensPerMinute: 5000}
	d := m.Admit(ctx, k, l)
	m.Finish(ctx, d, 1234)
	h := http.Header{}
	m.Admit(ctx, k, l).SetHeaders(h)
	want := http.Header{
		"X-Ratelimit-Limit-Requests":     {"2"},
		"X-Ratelimit-Remaining-Requests": {"0"},
		"X-Ratelimit-Reset-Requests":     {"1m0s"},
		"X-Ratelimit-Limit-Tokens":       {"5000"},
		"X-Ratelimit-Remaining-Tokens":   {"3766"},
		"X-Ratelimit-Reset-Tokens":       {"1m30s"},
	}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("allowed (-want +got):\n%s", diff)
	}
	h = http.Header{}
	clk.Advance(1500 * time.Millisecond)
	m.Admit(ctx, k, l).SetHeaders(h)
	want["X-Ratelimit-Reset-Requests"] = []string{"58.5s"}
	want["X-Ratelimit-Remaining-Tokens"] = []string{"3766"}
	want["X-Ratelimit-Reset-Tokens"] = []string{"1m29s"}
	want["Retry-After"] = []string{"29"} // 28.5 s, rounded up
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("refused (-want +got):\n%s", diff)
	}
	if h := (http.Header{}); true {
		m.Admit(ctx, sessionKey(clk, "s2"), meter.Limits{TotalTokens: 10}).SetHeaders(h)
		if got := h.Get("X-Ratelimit-Reset-Tokens"); got != "1h0m0s" || h.Get("X-Ratelimit-Limit-Tokens") != "10" || h.Get("X-Ratelimit-Limit-Requests") != "" {
			t.Errorf("budget-only headers: %v", h)
		}
	}
}

func TestLimitNames(t *testing.T) {
	for _, tt := range []struct {
		l          meter.Limit
		name, code string
	}{
		{meter.LimitNone, "", ""},
		{meter.LimitRequestsPerMinute, "requests_per_minute", "rate_limit_exceeded"},
		{meter.LimitTokensPerMinute, "tokens_per_minute", "rate_limit_exceeded"},
		{meter.LimitTotalTokens, "total_tokens", "budget_exceeded"},
		{meter.LimitConcurrentRequests, "concurrent_requests", "rate_limit_exceeded"},
	} {
		if tt.l.String() != tt.name || tt.l.Code() != tt.code || (tt.l.Description() == "") != (tt.l == meter.LimitNone) {
			t.Errorf("%d: %q %q %q", tt.l, tt.l.String(), tt.l.Code(), tt.l.Description())
		}
	}
}

// TestCapacity: the local counters never hold more sessions than the cap; the
// least recently used idle session makes room, one with a request in flight
// is kept.
func TestCapacity(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	m := newTestMeter(t, clk, meter.WithCapacity(3))
	l := meter.Limits{RequestsPerMinute: 1, ConcurrentRequests: 5}
	busy := m.Admit(ctx, sessionKey(clk, "busy"), l) // in flight throughout, least recently used
	for _, s := range []string{"a", "b"} {
		m.Finish(ctx, m.Admit(ctx, sessionKey(clk, s), l), 0)
	}
	for i := range 50 {
		m.Finish(ctx, m.Admit(ctx, sessionKey(clk, fmt.Sprintf("flood-%d", i)), l), 0)
		if s := m.Stats(); s.Sessions > 3 {
			t.Fatalf("%d sessions held, cap 3", s.Sessions)
		}
	}
	if s := m.Stats(); s.Evictions != 50 || s.Sessions != 3 {
		t.Errorf("stats %+v, want 50 evictions and 3 sessions", s)
	}
	// "busy" kept its counters: its minute's one request is spent.
	if d := m.Admit(ctx, sessionKey(clk, "busy"), l); d.Allowed {
		t.Error("the session in flight was forgotten")
	}
	m.Finish(ctx, busy, 0)
	// "a" was forgotten: it starts afresh, which errs on letting it in.
	if d := m.Admit(ctx, sessionKey(clk, "a"), l); !d.Allowed {
		t.Error("an evicted session was refused")
	}
}

// TestSessionsExpire: counters go with their session.
func TestSessionsExpire(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	m := newTestMeter(t, clk)
	l := meter.Limits{RequestsPerMinute: 1}
	for i := range 4 {
		k := meter.Key{Session: fmt.Sprintf("short-%d", i), Expires: clk.Now().Add(time.Minute)}
		m.Finish(ctx, m.Admit(ctx, k, l), 0)
	}
	if s := m.Stats(); s.Sessions != 4 {
		t.Fatalf("%d sessions, want 4", s.Sessions)
	}
	clk.Advance(2 * time.Minute)
	for range 2 {
		m.Admit(ctx, sessionKey(clk, "live"), l)
	}
	if s := m.Stats(); s.Sessions != 1 {
		t.Errorf("%d sessions after the others ended, want 1", s.Sessions)
	}
	// An ended session's counters are not those of its past.
	k := meter.Key{Session: "ended", Expires: clk.Now().Add(time.Second)}
	m.Admit(ctx, k, l)
	clk.Advance(2 * time.Second)
	if d := m.Admit(ctx, k, l); !d.Allowed {
		t.Error("counters outlived their session")
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	for _, o := range []meter.Option{
		meter.WithLeaseTTL(0), meter.WithRedisTimeout(-time.Second), meter.WithProbeInterval(0),
	} {
		if _, err := meter.New(o); err == nil {
			t.Error("New accepted a non-positive duration")
		}
	}
}
