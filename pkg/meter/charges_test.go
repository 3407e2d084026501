package meter_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/pkg/meter"
)

// never is a charge delay no test reaches: only an admission, a full queue
// or Close sends the queued charges.
var never = meter.WithChargeDelay(time.Hour)

// usedTokens reads a session's total charged tokens straight from Redis.
func usedTokens(t *testing.T, srv *redistest.Server, session string) int64 {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rc.Close()
	v, err := rc.Get(t.Context(), meter.DefaultKeyPrefix+"{"+session+"}:used").Int64()
	if err == redis.Nil {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestFinishAsyncRidesTheNextAdmission: queued charges stay on their replica
// until its next admission, which carries them ahead of itself and so sees
// them, a released slot included; other replicas see them from then on.
func TestFinishAsyncRidesTheNextAdmission(t *testing.T) {
	ctx := t.Context()
	srv := redistest.Start(t)
	clk := newClock()
	a := newRedisMeter(t, srv.URL(), clk, never)
	b := newRedisMeter(t, srv.URL(), clk, never)
	l := meter.Limits{TotalTokens: 100, ConcurrentRequests: 1}
	k := sessionKey(clk, "s1")

	d1 := a.Admit(ctx, k, l)
	other := a.Admit(ctx, sessionKey(clk, "other"), meter.Limits{TotalTokens: 1000})
	if !d1.Allowed || !other.Allowed {
		t.Fatalf("refused: %+v, %+v", d1, other)
	}
	a.FinishAsync(d1, 60)
	a.FinishAsync(other, 7)
	if got := usedTokens(t, srv, "s1"); got != 0 {
		t.Fatalf("used = %d in Redis before any admission, want the charge still queued", got)
	}
	if d := b.Admit(ctx, k, l); d.Allowed || d.Refused != meter.LimitConcurrentRequests {
		t.Fatalf("the other replica: %+v, want the slot still held (its release is queued)", d)
	}

	d2 := a.Admit(ctx, k, l)
	if !d2.Allowed {
		t.Fatalf("second request refused: %+v; the queued release should have gone first", d2)
	}
	if d2.Tokens.Remaining != 40 {
		t.Errorf("remaining tokens %d, want 40: the queued 60 charged before the admission", d2.Tokens.Remaining)
	}
	if got := usedTokens(t, srv, "s1"); got != 60 {
		t.Errorf("used = %d in Redis after the admission, want 60", got)
	}
	if got := usedTokens(t, srv, "other"); got != 7 {
		t.Errorf("another session's queued charge: used = %d, want 7", got)
	}
	if d := b.Admit(ctx, k, l); d.Allowed || d.Refused != meter.LimitConcurrentRequests {
		t.Errorf("the other replica: %+v, want the second request's slot held", d)
	}
	a.FinishAsync(d2, 40)
	if d := a.Admit(ctx, k, l); d.Allowed || d.Refused != meter.LimitTotalTokens {
		t.Errorf("after 100 of 100: %+v, want budget_exceeded", d)
	}
	if a.State() != meter.StateShared || a.Stats().LocalDecisions != 0 {
		t.Errorf("state %v, stats %+v: the decisions were not Redis's", a.State(), a.Stats())
	}
}

// TestFinishAsyncInOrder: charges queued for one session in one minute are
// sent together, in the order they finished, and each lands once: a
// session's budget is spent exactly, and its slots are all free.
func TestFinishAsyncInOrder(t *testing.T) {
	ctx := t.Context()
	srv := redistest.Start(t)
	clk := newClock()
	a := newRedisMeter(t, srv.URL(), clk, never)
	l := meter.Limits{TotalTokens: 1000, ConcurrentRequests: 5}
	k := sessionKey(clk, "s1")
	var ds []meter.Decision
	for range 5 {
		d := a.Admit(ctx, k, l)
		if !d.Allowed {
			t.Fatalf("refused: %+v", d)
		}
		ds = append(ds, d)
	}
	for i, d := range ds {
		a.FinishAsync(d, int64(10*(i+1))) // 10+20+30+40+50
	}
	// Redis forgot its scripts (a restart would): the calls are sent again.
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rc.Close()
	if err := rc.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		d := a.Admit(ctx, k, l)
		if !d.Allowed {
			t.Fatalf("request %d after the releases refused: %+v", i, d)
		}
		if i == 0 && d.Tokens.Remaining != 850 {
			t.Errorf("remaining %d, want 850 (150 charged once)", d.Tokens.Remaining)
		}
	}
	if got := usedTokens(t, srv, "s1"); got != 150 {
		t.Errorf("used = %d, want 150", got)
	}
	if a.State() != meter.StateShared {
		t.Errorf("state %v after the script flush, want shared", a.State())
	}
}

// TestCloseSendsQueuedCharges: Close sends what is queued, so a replica that
// stops cleanly loses no charge.
func TestCloseSendsQueuedCharges(t *testing.T) {
	ctx := t.Context()
	srv := redistest.Start(t)
	clk := newClock()
	l := meter.Limits{TotalTokens: 50, ConcurrentRequests: 1}
	k := sessionKey(clk, "s1")
	a, err := meter.New(meter.WithRedis(srv.URL()), meter.WithClock(clk.Now), patient, never)
	if err != nil {
		t.Fatal(err)
	}
	b := newRedisMeter(t, srv.URL(), clk, never)
	a.FinishAsync(a.Admit(ctx, k, l), 50)
	if got := usedTokens(t, srv, "s1"); got != 0 {
		t.Fatalf("used = %d before Close, want the charge queued", got)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got := usedTokens(t, srv, "s1"); got != 50 {
		t.Errorf("used = %d after Close, want 50", got)
	}
	if d := b.Admit(ctx, k, l); d.Allowed || d.Refused != meter.LimitTotalTokens {
		t.Errorf("the other replica after Close: %+v, want budget_exceeded (and the slot free)", d)
	}
	// After Close, FinishAsync charges the local counters.
	a.FinishAsync(a.Admit(ctx, sessionKey(clk, "s2"), meter.Limits{TotalTokens: 10}), 10)
	if d := a.Admit(ctx, sessionKey(clk, "s2"), meter.Limits{TotalTokens: 10}); d.Allowed {
		t.Errorf("after Close: %+v, want the local charge counted", d)
	}
}

// TestChargeQueueBounded: the FinishAsync that fills the queue sends it,
// without an admission or the delay.
func TestChargeQueueBounded(t *testing.T) {
	ctx := t.Context()
	srv := redistest.Start(t)
	clk := newClock()
	a := newRedisMeter(t, srv.URL(), clk, never, meter.WithMaxPendingCharges(3))
	l := meter.Limits{TotalTokens: 1000}
	var ds []meter.Decision
	for _, s := range []string{"s1", "s2", "s1", "s3"} {
		ds = append(ds, a.Admit(ctx, sessionKey(clk, s), l))
	}
	a.FinishAsync(ds[0], 10)
	a.FinishAsync(ds[1], 20)
	if got := usedTokens(t, srv, "s1") + usedTokens(t, srv, "s2"); got != 0 {
		t.Fatalf("%d tokens in Redis with 2 of 3 charges queued, want 0", got)
	}
	a.FinishAsync(ds[2], 30) // the third fills the queue
	for s, want := range map[string]int64{"s1": 40, "s2": 20} {
		if got := usedTokens(t, srv, s); got != want {
			t.Errorf("%s: used = %d, want %d once the queue filled", s, got, want)
		}
	}
	a.FinishAsync(ds[3], 5) // a fresh queue
	if got := usedTokens(t, srv, "s3"); got != 0 {
		t.Errorf("s3: used = %d, want its charge queued again", got)
	}
}

// TestChargeFlusher: without admissions, the flusher sends the queued
// charges after the delay, or at once when a batch's worth is queued.
func TestChargeFlusher(t *testing.T) {
	ctx := t.Context()
	srv := redistest.Start(t)
	clk := newClock()
	waitUsed := func(session string, want int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for usedTokens(t, srv, session) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: used = %d, want %d", session, usedTokens(t, srv, session), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	soon := newRedisMeter(t, srv.URL(), clk, meter.WithChargeDelay(time.Millisecond))
	soon.FinishAsync(soon.Admit(ctx, sessionKey(clk, "s1"), meter.Limits{TotalTokens: 100}), 25)
	waitUsed("s1", 25)

	batched := newRedisMeter(t, srv.URL(), clk, never)
	var ds []meter.Decision
	for range 64 {
		ds = append(ds, batched.Admit(ctx, sessionKey(clk, "s2"), meter.Limits{TotalTokens: 1000}))
	}
	for _, d := range ds {
		batched.FinishAsync(d, 2)
	}
	waitUsed("s2", 128)
}

// TestChargesQueuedDuringOutage: charges queued when Redis goes away are
// charged to the local counters, whether an admission or Close was to send
// them, and nothing waits or fails.
func TestChargesQueuedDuringOutage(t *testing.T) {
	ctx := t.Context()
	srv := redistest.Start(t)
	clk := newClock()
	l := meter.Limits{TotalTokens: 100, ConcurrentRequests: 2}
	a := newRedisMeter(t, srv.URL(), clk, never, meter.WithProbeInterval(time.Hour))
	closing, err := meter.New(meter.WithRedis(srv.URL()), meter.WithClock(clk.Now), patient, never)
	if err != nil {
		t.Fatal(err)
	}
	a.FinishAsync(a.Admit(ctx, sessionKey(clk, "s1"), l), 100)
	closing.FinishAsync(closing.Admit(ctx, sessionKey(clk, "s2"), l), 100)

	srv.Kill()
	// The admission that carries the queued charge fails: the charge goes to
	// the local counters, which then decide.
	if d := a.Admit(ctx, sessionKey(clk, "s1"), l); d.Allowed || d.Refused != meter.LimitTotalTokens {
		t.Errorf("after the outage: %+v, want the queued 100 tokens charged locally", d)
	}
	if a.State() != meter.StateFallback || a.Stats().RedisErrors == 0 {
		t.Errorf("state %v, stats %+v, want the outage seen", a.State(), a.Stats())
	}
	// Close sends the queue, fails, and charges it locally.
	if err := closing.Close(); err != nil {
		t.Fatal(err)
	}
	if d := closing.Admit(ctx, sessionKey(clk, "s2"), l); d.Allowed || d.Refused != meter.LimitTotalTokens {
		t.Errorf("after Close during the outage: %+v, want the queued charge counted locally", d)
	}
	if closing.Stats().RedisErrors == 0 {
		t.Errorf("stats %+v: the failed send is not counted", closing.Stats())
	}
}
