package meter_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/pkg/meter"
)

// BenchmarkDecision measures one request's counting, Admit plus Finish, for
// a session with every limit set (never reached), against the same calls for
// an unlimited session (store=none, the baseline), with local counters and
// with Redis on loopback, there with Finish (a round trip each) and with
// FinishAsync (store=redis-queued: the charge rides the next admission).
// Sessions rotate over 1000 ids.
func BenchmarkDecision(b *testing.B) {
	limited := meter.Limits{RequestsPerMinute: 60_000_000, TokensPerMinute: 1e11, TotalTokens: 1e11, ConcurrentRequests: 1000}
	keys := make([]meter.Key, 1000)
	end := time.Now().Add(time.Hour)
	for i := range keys {
		keys[i] = meter.Key{Session: "session-" + strconv.Itoa(i), Expires: end}
	}
	for _, bc := range []struct {
		name   string
		redis  bool
		limits meter.Limits
		queued bool
	}{
		{"store=none", false, meter.Limits{}, false},
		{"store=local", false, limited, false},
		{"store=redis", true, limited, false},
		{"store=redis-queued", true, limited, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var opts []meter.Option
			if bc.redis {
				opts = append(opts, meter.WithRedis(redistest.Start(b).URL()))
			}
			m, err := meter.New(opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			ctx := b.Context()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				d := m.Admit(ctx, keys[i%len(keys)], bc.limits)
				if !d.Allowed {
					b.Fatalf("refused: %+v", d)
				}
				if bc.queued {
					m.FinishAsync(d, 120)
				} else {
					m.Finish(ctx, d, 120)
				}
				i++
			}
			if bc.redis && m.State() != meter.StateShared {
				b.Fatalf("state %v: not measured against Redis", m.State())
			}
		})
	}
}

// BenchmarkDecisionParallel is BenchmarkDecision from as many goroutines as
// GOMAXPROCS, as a busy replica calls it (store=redis-queued: with
// FinishAsync).
func BenchmarkDecisionParallel(b *testing.B) {
	limited := meter.Limits{RequestsPerMinute: 60_000_000, TokensPerMinute: 1e11, TotalTokens: 1e11, ConcurrentRequests: 1000}
	for _, name := range []string{"store=local", "store=redis", "store=redis-queued"} {
		redis, queued := name != "store=local", name == "store=redis-queued"
		var opts []meter.Option
		b.Run(name, func(b *testing.B) {
			if redis {
				opts = append(opts, meter.WithRedis(redistest.Start(b).URL()))
			}
			m, err := meter.New(opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			ctx := b.Context()
			end := time.Now().Add(time.Hour)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				k := meter.Key{Session: "parallel", Expires: end}
				for pb.Next() {
					d := m.Admit(ctx, k, limited)
					if queued {
						m.FinishAsync(d, 120)
					} else {
						m.Finish(ctx, d, 120)
					}
				}
			})
		})
	}
}
