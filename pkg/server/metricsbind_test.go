package server

import (
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestObserveRequestSeries checks the bound series against what the vectors
// would hold if every request looked its series up by label values: the same
// counts and observations, and no series for a combination never used (a
// bound child is created at first use, not before). Requests come from many
// goroutines at once, so that -race sees the binding's first uses collide.
func TestObserveRequestSeries(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry(), "test")
	if err != nil {
		t.Fatal(err)
	}
	type req struct {
		route, method string
		status        int
	}
	reqs := []req{
		{"/healthz", "GET", 200},
		{"/healthz", "HEAD", 200},
		{"/sessions", "POST", 201},
		{"/sessions", "POST", 401},
		{"/sessions", "POST", 429},
		{"/chat/*path", "POST", 200},
		{"/chat/*path", "POST", 499},
		{"/chat/*path", "BREW", 405}, // counted as "other"
		{unmatchedRoute, "GET", 404},
	}
	const perGoroutine, goroutines = 50, 8
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range perGoroutine {
				for _, r := range reqs {
					m.observeRequest(r.route, r.method, r.status, time.Millisecond)
				}
			}
		})
	}
	wg.Wait()

	want := map[string]uint64{}
	wantObs := map[string]uint64{}
	for _, r := range reqs {
		method := methodLabel(r.method)
		want[fmt.Sprintf("%s %s %d", r.route, method, r.status)] += perGoroutine * goroutines
		wantObs[r.route+" "+method] += perGoroutine * goroutines
	}
	got := map[string]uint64{}
	for _, d := range collect(t, m.requests) {
		got[label(d, "route")+" "+label(d, "method")+" "+label(d, "code")] = uint64(d.GetCounter().GetValue())
	}
	gotObs := map[string]uint64{}
	for _, d := range collect(t, m.duration) {
		gotObs[label(d, "route")+" "+label(d, "method")] = d.GetHistogram().GetSampleCount()
	}
	if fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
		t.Errorf("jwtgate_http_requests_total = %v, want %v", sorted(got), sorted(want))
	}
	if fmt.Sprint(sorted(gotObs)) != fmt.Sprint(sorted(wantObs)) {
		t.Errorf("jwtgate_http_request_duration_seconds counts = %v, want %v", sorted(gotObs), sorted(wantObs))
	}
}

// TestObserveUpstreamDuration checks the upstream histogram's bound children:
// one series per status code seen, each with its own observations.
func TestObserveUpstreamDuration(t *testing.T) {
	u := newUpstreamMetrics()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 300 {
				u.observeDuration([]int{200, 429, 502}[i%3], 20*time.Millisecond)
			}
		})
	}
	wg.Wait()
	got := map[string]uint64{}
	for _, d := range collect(t, u.duration) {
		got[label(d, "code")] = d.GetHistogram().GetSampleCount()
	}
	if want := map[string]uint64{"200": 400, "429": 400, "502": 400}; fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
		t.Errorf("upstream duration counts = %v, want %v", sorted(got), sorted(want))
	}
}

func sorted(m map[string]uint64) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(out)
	return out
}

func TestMethodLabel(t *testing.T) {
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"} {
		if got := methodLabel(m); got != m {
			t.Errorf("methodLabel(%q) = %q, want itself", m, got)
		}
	}
	for _, m := range []string{"", "get", "BREW", "PROPFIND"} {
		if got := methodLabel(m); got != "other" {
			t.Errorf("methodLabel(%q) = %q, want other", m, got)
		}
	}
}

// BenchmarkObserveRequest records one request's series the way each request
// did before the binding (lookup=labels: WithLabelValues for the counter, with
// the status formatted, and for the histogram) and the bound way
// (lookup=bound), on the same vectors: `benchstat -col /lookup`.
func BenchmarkObserveRequest(b *testing.B) {
	m, err := newMetrics(prometheus.NewRegistry(), "test")
	if err != nil {
		b.Fatal(err)
	}
	// A few routes and codes already seen, as in a running server.
	for _, route := range []string{"/healthz", "/sessions", "/sessions/current", "/chat/*path", unmatchedRoute} {
		for _, code := range []int{200, 201, 401, 404} {
			m.observeRequest(route, "GET", code, time.Millisecond)
		}
	}
	b.Run("lookup=labels", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			method := methodLabel("POST")
			m.requests.WithLabelValues("/chat/*path", method, strconv.Itoa(200)).Inc()
			m.duration.WithLabelValues("/chat/*path", method).Observe(0.001)
		}
	})
	b.Run("lookup=bound", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.observeRequest("/chat/*path", "POST", 200, time.Millisecond)
		}
	})
}
