package meter_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/pkg/meter"
)

// patient gives Redis calls far more time than they need, so that a loaded
// machine never turns a slow answer into a fallback: the outages these tests
// make are refused connections and refused credentials, which fail at once.
var patient = meter.WithRedisTimeout(20 * time.Second)

// newRedisMeter returns a Meter sharing counters through url, probing every
// 20 ms when it is down.
func newRedisMeter(t testing.TB, url string, clk *fakeClock, opts ...meter.Option) *meter.Meter {
	t.Helper()
	base := []meter.Option{meter.WithRedis(url), meter.WithProbeInterval(20 * time.Millisecond), patient}
	return newTestMeter(t, clk, append(base, opts...)...)
}

// replicas returns n Meters, as n jwtgate replicas would hold, all on clk.
func replicas(t *testing.T, n int, clk *fakeClock, opts ...meter.Option) []*meter.Meter {
	t.Helper()
	ms := make([]*meter.Meter, n)
	for i := range ms {
		m, err := meter.New(append([]meter.Option{meter.WithClock(clk.Now)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Close() })
		ms[i] = m
	}
	return ms
}

// roundRobin sends n requests of one session across the replicas in turn and
// counts the admitted ones.
func roundRobin(ctx context.Context, ms []*meter.Meter, k meter.Key, l meter.Limits, n int) int {
	admitted := 0
	for i := range n {
		m := ms[i%len(ms)]
		d := m.Admit(ctx, k, l)
		if d.Allowed {
			admitted++
		}
		m.Finish(ctx, d, 0)
	}
	return admitted
}

// waitState waits until every Meter is in state s; a Meter's probe runs on
// real time, every 20 ms here.
func waitState(t *testing.T, s meter.State, ms ...*meter.Meter) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, m := range ms {
		for m.State() != s {
			if time.Now().After(deadline) {
				t.Fatalf("state %v, still not %v", m.State(), s)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// TestRedisReplicasShareRequestsPerMinute: three replicas sharing Redis hold
// a session's requests_per_minute exactly across round-robin requests; three
// on local counters let through three times as many.
func TestRedisReplicasShareRequestsPerMinute(t *testing.T) {
	ctx := t.Context()
	srv := redistest.Start(t)
	clk := newClock()
	l := meter.Limits{RequestsPerMinute: 10}
	shared := replicas(t, 3, clk, meter.WithRedis(srv.URL()), patient)
	for _, m := range shared {
		if m.State() != meter.StateShared {
			t.Fatalf("state %v, want shared", m.State())
		}
	}
	if got := roundRobin(ctx, shared, sessionKey(clk, "s1"), l, 60); got != 10 {
		t.Errorf("shared: %d of 60 admitted, want exactly 10", got)
	}
	local := replicas(t, 3, clk)
	if got := roundRobin(ctx, local, sessionKey(clk, "s1"), l, 60); got != 30 {
		t.Errorf("control, local counters: %d of 60 admitted, want 30 (10 per replica)", got)
	}
	// A minute later the shared rate has refilled, and still holds.
	clk.Advance(time.Minute)
	if got := roundRobin(ctx, shared, sessionKey(clk, "s1"), l, 30); got != 10 {
		t.Errorf("shared, a minute later: %d of 30 admitted, want 10", got)
	}
}

// TestRedisFallbackAndResume: with Redis killed mid-run, every request still
// gets a decision, on local counters; once Redis is back, sharing resumes by
// itself.
func TestRedisFallbackAndResume(t *testing.T) {
	ctx := t.Context()
	srv := redistest.Start(t)
	clk := newClock()
	var logs logBuffer
	var (
		statesMu sync.Mutex
		states   []meter.State // the probe changes the state on its goroutine
	)
	l := meter.Limits{RequestsPerMinute: 5, TokensPerMinute: 1_000_000}
	ms := replicas(t, 3, clk, meter.WithRedis(srv.URL()), meter.WithProbeInterval(20*time.Millisecond),
		meter.WithLogger(logs.logger()), patient)
	hooked := newTestMeter(t, clk, meter.WithRedis(srv.URL()), meter.WithProbeInterval(20*time.Millisecond), patient,
		meter.WithStateHook(func(s meter.State) {
			statesMu.Lock()
			defer statesMu.Unlock()
			states = append(states, s)
		}))
	ms = append(ms, hooked)
	k := sessionKey(clk, "s1")

	if got := roundRobin(ctx, ms, k, l, 8); got != 5 {
		t.Fatalf("before the outage: %d of 8 admitted, want 5", got)
	}
	inflight := ms[0].Admit(ctx, sessionKey(clk, "s2"), l) // finishes during the outage

	srv.Kill()
	// Each replica now decides alone, from fresh local counters: 5 each.
	if got := roundRobin(ctx, ms, k, l, 40); got != 20 {
		t.Errorf("during the outage: %d of 40 admitted, want 20 (5 per replica)", got)
	}
	for i, m := range ms {
		if m.State() != meter.StateFallback || m.State().String() != "fallback" {
			t.Errorf("replica %d: state %v, want fallback", i, m.State())
		}
		if s := m.Stats(); s.RedisErrors == 0 || s.LocalDecisions == 0 {
			t.Errorf("replica %d: stats %+v, want the outage counted", i, s)
		}
	}
	ms[0].Finish(ctx, inflight, 100) // Redis gone: charged locally, no error, no wait
	if !strings.Contains(logs.String(), "redis unreachable") || !strings.Contains(logs.String(), srv.Addr()) {
		t.Errorf("the outage was not logged:\n%s", logs.String())
	}

	srv.Restart() // empty: persistence is off
	waitState(t, meter.StateShared, ms...)
	if !strings.Contains(logs.String(), "redis answers again") {
		t.Errorf("the return was not logged:\n%s", logs.String())
	}
	if got := roundRobin(ctx, ms, sessionKey(clk, "s3"), l, 40); got != 5 {
		t.Errorf("after the restart: %d of 40 admitted, want exactly 5 again", got)
	}
	statesMu.Lock()
	defer statesMu.Unlock()
	if diff := cmp.Diff([]meter.State{meter.StateShared, meter.StateFallback, meter.StateShared}, states); diff != "" {
		t.Errorf("state hook calls (-want +got):\n%s", diff)
	}
}

// step is one action of a scenario run against both stores.
type step struct {
	advance time.Duration
	session string
	limits  meter.Limits
	charge  int64 // tokens charged to the admitted request right away (-1: keep it in flight)
}

// TestRedisAgreesWithLocal: the Lua script and the Go rules decide alike: one
// scenario through a local Meter and a Redis one gives the same decisions.
func TestRedisAgreesWithLocal(t *testing.T) {
	ctx := t.Context()
	srv := redistest.Start(t)
	all := meter.Limits{RequestsPerMinute: 7, TokensPerMinute: 5000, TotalTokens: 12_000, ConcurrentRequests: 2}
	scenario := []step{
		{session: "a", limits: all, charge: 1200},
		{session: "a", limits: all, charge: 1900},
		{advance: 3 * time.Second, session: "a", limits: all, charge: -1},
		{session: "a", limits: all, charge: -1},
		{session: "a", limits: all, charge: 0}, // refused: concurrency (and maybe the rate)
		{advance: 20 * time.Second, session: "a", limits: all, charge: 2500},
		{advance: 41 * time.Second, session: "a", limits: all, charge: 4000},
		{advance: 59 * time.Second, session: "a", limits: all, charge: 100},
		{advance: 8571 * time.Millisecond, session: "a", limits: all, charge: 100},
		{advance: 2 * time.Minute, session: "a", limits: all, charge: 10},
		{session: "b", limits: meter.Limits{RequestsPerMinute: 1}, charge: 0},
		{session: "b", limits: meter.Limits{RequestsPerMinute: 1}, charge: 0},
		{advance: 30 * time.Second, session: "c", limits: meter.Limits{TotalTokens: 10}, charge: 50},
		{session: "c", limits: meter.Limits{TotalTokens: 10}, charge: 0},
	}
	run := func(m *meter.Meter, clk *fakeClock) []meter.Decision {
		var out []meter.Decision
		end := clk.Now().Add(2 * time.Hour)
		for _, s := range scenario {
			clk.Advance(s.advance)
			d := m.Admit(ctx, meter.Key{Session: s.session, Expires: end}, s.limits)
			out = append(out, d)
			if s.charge >= 0 {
				m.Finish(ctx, d, s.charge)
			}
		}
		return out
	}
	localClk := newClock()
	redisClk := &fakeClock{t: localClk.Now()}
	local := run(newTestMeter(t, localClk), localClk)
	shared := newRedisMeter(t, srv.URL(), redisClk)
	remote := run(shared, redisClk)
	if diff := cmp.Diff(local, remote, ignoreInternals); diff != "" {
		t.Errorf("local and redis decisions differ (-local +redis):\n%s", diff)
	}
	refused := 0
	for _, d := range local {
		if !d.Allowed {
			refused++
		}
	}
	if refused < 3 || refused == len(local) {
		t.Errorf("%d of %d refused: the scenario does not exercise the limits", refused, len(local))
	}
	if shared.State() != meter.StateShared {
		t.Errorf("state %v: the decisions were not Redis's", shared.State())
	}
}

// TestRedisLeaseLapses: a slot taken by a replica that died is freed after
// the lease TTL, so a crash cannot block a session for ever.
func TestRedisLeaseLapses(t *testing.T) {
	ctx := t.Context()
	srv := redistest.Start(t)
	clk := newClock()
	l := meter.Limits{ConcurrentRequests: 1}
	k := sessionKey(clk, "s1")
	dead, err := meter.New(meter.WithRedis(srv.URL()), meter.WithClock(clk.Now), meter.WithLeaseTTL(5*time.Minute), patient)
	if err != nil {
		t.Fatal(err)
	}
	if d := dead.Admit(ctx, k, l); !d.Allowed {
		t.Fatal("refused the first request")
	}
	if err := dead.Close(); err != nil { // dies with its request in flight
		t.Fatal(err)
	}
	live := newRedisMeter(t, srv.URL(), clk)
	if d := live.Admit(ctx, k, l); d.Allowed {
		t.Fatal("admitted while the dead replica's slot is held")
	}
	clk.Advance(5*time.Minute + time.Millisecond)
	d := live.Admit(ctx, k, l)
	if !d.Allowed {
		t.Fatal("the dead replica's slot did not lapse")
	}
	if d := live.Admit(ctx, k, l); d.Allowed {
		t.Fatal("admitted two at once")
	}
	live.Finish(ctx, d, 0)
	if d := live.Admit(ctx, k, l); !d.Allowed {
		t.Fatal("Finish did not release the slot in Redis")
	}
}

// TestRedisKeysExpireWithTheSession: every key carries a TTL, ending with the
// session (a minute's token counter: two minutes after the minute began), so
// Redis forgets them by itself.
func TestRedisKeysExpireWithTheSession(t *testing.T) {
	ctx := t.Context()
	srv := redistest.Start(t)
	clk := newClock()
	m := newRedisMeter(t, srv.URL(), clk)
	k := meter.Key{Session: "s1", Expires: clk.Now().Add(45 * time.Minute)}
	l := meter.Limits{RequestsPerMinute: 5, TokensPerMinute: 1000, ConcurrentRequests: 3}
	m.Admit(ctx, k, l) // stays in flight: its lease stays
	m.Finish(ctx, m.Admit(ctx, k, l), 50)

	rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rc.Close()
	keys, err := rc.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	minute := clk.Now().Unix() / 60
	p := meter.DefaultKeyPrefix + "{s1}:"
	windowKey := p + "w:" + strconv.FormatInt(minute, 10)
	want := []string{p + "lease", p + "tat", p + "used", windowKey}
	if diff := cmp.Diff(want, keys, cmp.Transformer("sort", sortedStrings)); diff != "" {
		t.Fatalf("keys (-want +got):\n%s", diff)
	}
	for _, key := range keys {
		ttl, err := rc.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		// Redis counts down on the real clock; the test clock is up to 30 s
		// ahead of it.
		left := time.Until(k.Expires)
		if key == windowKey {
			left = time.Until(time.Unix((minute+2)*60, 0))
		}
		if ttl > left+time.Second || ttl < left-5*time.Second {
			t.Errorf("%s: TTL %s, want %s", key, ttl, left)
		}
	}
	if v, err := rc.Get(ctx, windowKey).Int64(); err != nil || v != 50 {
		t.Errorf("%s = %d, %v; want the 50 tokens charged", windowKey, v, err)
	}
}

func sortedStrings(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestRedisPasswordAndTLS: rediss:// with a password in the URL works; a wrong
// password falls back to local counters, and the password is in no log line
// and no error.
func TestRedisPasswordAndTLS(t *testing.T) {
	ctx := t.Context()
	const password = "s3cret-Redis-pw-9fQ"
	srv := redistest.Start(t, redistest.WithPassword(password), redistest.WithTLS())
	clk := newClock()
	tlsConfig := &tls.Config{RootCAs: srv.RootCAs(), MinVersion: tls.VersionTLS12}
	var logs logBuffer
	ms := replicas(t, 2, clk, meter.WithRedis(srv.URL()), meter.WithRedisTLS(tlsConfig), meter.WithLogger(logs.logger()), patient)
	for _, m := range ms {
		if m.State() != meter.StateShared {
			t.Fatalf("state %v over TLS with the password; log:\n%s", m.State(), logs.String())
		}
	}
	if got := roundRobin(ctx, ms, sessionKey(clk, "s1"), meter.Limits{RequestsPerMinute: 4}, 12); got != 4 {
		t.Errorf("%d of 12 admitted over TLS, want 4", got)
	}

	wrong := strings.Replace(srv.URL(), password, password+"-wrong", 1)
	bad := newRedisMeter(t, wrong, clk, meter.WithRedisTLS(tlsConfig), meter.WithLogger(logs.logger()))
	if bad.State() != meter.StateFallback {
		t.Errorf("state %v with a wrong password, want fallback", bad.State())
	}
	if d := bad.Admit(ctx, sessionKey(clk, "s1"), meter.Limits{RequestsPerMinute: 4}); !d.Allowed {
		t.Error("the fallback refused a fresh session")
	}
	untrusted := newRedisMeter(t, srv.URL(), clk, meter.WithLogger(logs.logger())) // system roots: not ours
	if untrusted.State() != meter.StateFallback {
		t.Errorf("state %v with an untrusted certificate, want fallback", untrusted.State())
	}
	out := logs.String()
	if !strings.Contains(out, "WRONGPASS") || !strings.Contains(out, "certificate") {
		t.Errorf("the failures are not described:\n%s", out)
	}
	if strings.Contains(out, password) {
		t.Errorf("the password reached the log:\n%s", out)
	}
}

// TestParseRedisURL: good URLs parse; bad ones are refused without quoting
// the URL or its password.
func TestParseRedisURL(t *testing.T) {
	const pw = "pw-zq81-secret"
	good := []string{"redis://127.0.0.1:6379/0", "rediss://:" + pw + "@redis.internal:6380/2", "redis://user:" + pw + "@[::1]:7000", "redis://localhost"}
	for _, u := range good {
		if _, err := meter.ParseRedisURL(u); err != nil {
			t.Errorf("ParseRedisURL(%q): %v", u, err)
		}
	}
	bad := []string{
		"http://:" + pw + "@host:6379", "redis://:" + pw + "@host:port", "redis://:" + pw + "@host:6379/x",
		"redis://:%zz" + pw + "@host", "redis:///" + pw, "unix:///tmp/" + pw + ".sock", "redis://:" + pw + "@host/0?dial_timeout=" + pw,
		"redis://:" + pw + "@host/0/1", ":" + pw,
	}
	for _, u := range bad {
		_, err := meter.ParseRedisURL(u)
		if !errors.Is(err, meter.ErrInvalidRedisURL) {
			t.Errorf("ParseRedisURL(%q): %v, want ErrInvalidRedisURL", u, err)
			continue
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "zz") {
			t.Errorf("the error quotes the URL: %q", err)
		}
		if _, err := meter.New(meter.WithRedis(u)); !errors.Is(err, meter.ErrInvalidRedisURL) || strings.Contains(err.Error(), pw) {
			t.Errorf("New(WithRedis(%q)): %v", u, err)
		}
	}
}

// TestCloseStopsProbe: a Meter whose Redis never answers probes in the
// background; Close stops that goroutine.
func TestCloseStopsProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	m, err := meter.New(meter.WithRedis("redis://"+addr), meter.WithProbeInterval(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if m.State() != meter.StateFallback {
		t.Fatalf("state %v, want fallback", m.State())
	}
	if !probing() {
		t.Fatal("no probe is running")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if probing() {
		t.Error("the probe outlived Close")
	}
	if err := m.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	if d := m.Admit(t.Context(), meter.Key{Session: "s"}, meter.Limits{RequestsPerMinute: 1}); !d.Allowed {
		t.Error("Admit after Close refused a fresh session")
	}
}

// probing reports whether a Meter's probe goroutine exists: the goroutine
// markDown starts (a goroutine not yet running shows only a wrapper's name).
func probing() bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Contains(string(buf[:n]), "created by github.com/jwtgate/jwtgate/pkg/meter.(*Meter).markDown")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestClientCancellationIsNotAnOutage: a request whose client went away
// leaves Redis in use.
func TestClientCancellationIsNotAnOutage(t *testing.T) {
	srv := redistest.Start(t)
	clk := newClock()
	m := newRedisMeter(t, srv.URL(), clk)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if d := m.Admit(ctx, sessionKey(clk, "gone"), meter.Limits{RequestsPerMinute: 1}); !d.Allowed {
		t.Fatalf("%+v", d)
	}
	if m.State() != meter.StateShared || m.Stats().RedisErrors != 0 {
		t.Errorf("state %v, stats %+v: a cancelled client counted as an outage", m.State(), m.Stats())
	}
	// A client that goes away mid-stream: Finish with its cancelled context
	// still charges Redis.
	d := m.Admit(t.Context(), sessionKey(clk, "s1"), meter.Limits{RequestsPerMinute: 1, TotalTokens: 100})
	if !d.Allowed {
		t.Fatalf("%+v", d)
	}
	m.Finish(ctx, d, 100)
	if d := m.Admit(t.Context(), sessionKey(clk, "s2"), meter.Limits{TotalTokens: 100}); !d.Allowed {
		t.Fatal("another session refused")
	}
	clk.Advance(time.Minute)
	if d := m.Admit(t.Context(), sessionKey(clk, "s1"), meter.Limits{RequestsPerMinute: 1, TotalTokens: 100}); d.Allowed || d.Refused != meter.LimitTotalTokens {
		t.Errorf("%+v: want the cancelled request's 100 tokens charged", d)
	}
}

func ExampleMeter() {
	m, err := meter.New() // meter.WithRedis("redis://redis:6379/0") to share counters
	if err != nil {
		panic(err)
	}
	defer m.Close()
	ctx := context.Background()
	k := meter.Key{Session: "sid-from-the-token", Expires: time.Now().Add(24 * time.Hour)}
	l := meter.Limits{RequestsPerMinute: 2, TotalTokens: 1000}
	for range 3 {
		d := m.Admit(ctx, k, l)
		if !d.Allowed {
			fmt.Println("429", d.Code(), d.Refused)
			continue
		}
		fmt.Println("admitted; requests left:", d.Requests.Remaining)
		m.Finish(ctx, d, 300) // the answer's usage.Total()
	}
	// Output:
	// admitted; requests left: 1
	// admitted; requests left: 0
	// 429 rate_limit_exceeded requests_per_minute
}
