package server

import (
	"context"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// upstreamCounts is what the proxy's metrics say after one request.
type upstreamCounts struct {
	durations map[string]int // observations of the latency histogram by code
	errors    map[string]float64
}

func readUpstreamCounts(t *testing.T, m *upstreamMetrics) upstreamCounts {
	t.Helper()
	got := upstreamCounts{durations: map[string]int{}, errors: map[string]float64{}}
	for _, d := range collect(t, m.errors) {
		if v := d.GetCounter().GetValue(); v != 0 {
			got.errors[label(d, "kind")] = v
		}
	}
	for _, d := range collect(t, m.duration) {
		got.durations[label(d, "code")] = int(d.GetHistogram().GetSampleCount())
	}
	return got
}

// collect returns the series of c.
func collect(t *testing.T, c prometheus.Collector) []*dto.Metric {
	t.Helper()
	ch := make(chan prometheus.Metric)
	go func() { c.Collect(ch); close(ch) }()
	var out []*dto.Metric
	for metric := range ch {
		d := &dto.Metric{}
		if err := metric.Write(d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func label(d *dto.Metric, name string) string {
	for _, lp := range d.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

func TestProxyMetrics(t *testing.T) {
	unreachable := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr
	}
	tests := []struct {
		name string
		// upstream answers the request; nil: nothing listens.
		upstream func(w http.ResponseWriter, r *http.Request)
		edit     func(*ChatConfig)
		body     string
		status   int
		want     upstreamCounts
	}{
		{
			name:     "answered",
			upstream: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"ok":true}`) },
			status:   http.StatusOK,
			want:     upstreamCounts{durations: map[string]int{"200": 1}},
		},
		{
			name: "upstream error status",
			upstream: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusServiceUnavailable)
			},
			status: http.StatusServiceUnavailable,
			want:   upstreamCounts{durations: map[string]int{"503": 1}},
		},
		{
			name:   "unreachable",
			status: http.StatusBadGateway,
			want:   upstreamCounts{errors: map[string]float64{upstreamUnreachable: 1}},
		},
		{
			name:     "no headers in time",
			upstream: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			edit:     func(c *ChatConfig) { c.ResponseHeaderTimeout = 20 * time.Millisecond },
			status:   http.StatusGatewayTimeout,
			want:     upstreamCounts{errors: map[string]float64{upstreamTimeout: 1}},
		},
		{
			// The stream deadline also cancels the context endStream reads:
			// the timeout is counted once.
			name:     "stream deadline before headers",
			upstream: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			edit: func(c *ChatConfig) {
				c.ResponseHeaderTimeout = 0
				c.MaxStreamDuration = 20 * time.Millisecond
			},
			status: http.StatusGatewayTimeout,
			want:   upstreamCounts{errors: map[string]float64{upstreamTimeout: 1}},
		},
		{
			name: "stream cut by the idle timeout",
			upstream: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, "data: 1\n\n")
				http.NewResponseController(w).Flush()
				<-r.Context().Done()
			},
			edit:   func(c *ChatConfig) { c.IdleTimeout = 20 * time.Millisecond },
			status: http.StatusOK,
			want: upstreamCounts{
				durations: map[string]int{"200": 1},
				errors:    map[string]float64{upstreamTimeout: 1},
			},
		},
		{
			name: "stream broken off by the upstream",
			upstream: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, "data: 1\n\n")
				http.NewResponseController(w).Flush()
				panic(http.ErrAbortHandler) // the connection drops mid-body
			},
			status: http.StatusOK,
			want: upstreamCounts{
				durations: map[string]int{"200": 1},
				errors:    map[string]float64{upstreamBroken: 1},
			},
		},
		{
			name:     "body over the limit",
			upstream: func(w http.ResponseWriter, r *http.Request) { t.Error("the upstream was called") },
			edit:     func(c *ChatConfig) { c.MaxBodyBytes = 4 },
			body:     "too long",
			status:   http.StatusRequestEntityTooLarge,
			want:     upstreamCounts{errors: map[string]float64{upstreamTooLarge: 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := unreachable(t)
			if tt.upstream != nil {
				target = newUpstream(t, tt.upstream).URL
			}
			cfg := testChatConfig(mustParseURL(t, target))
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			m := newUpstreamMetrics()
			front, _ := newMeteredFront(t, cfg, m)

			ctx, cancel := context.WithTimeout(t.Context(), guard)
			defer cancel()
			resp, err := http.DefaultClient.Do(newChatRequest(t, ctx, http.MethodPost, front.URL+"/chat/completions", strings.NewReader(tt.body)))
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			io.Copy(io.Discard, resp.Body) // a cut stream ends in an error; the counts tell
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			front.Close() // waits for the handler, and with it the deferred counting
			got := readUpstreamCounts(t, m)
			if tt.want.durations == nil {
				tt.want.durations = map[string]int{}
			}
			if tt.want.errors == nil {
				tt.want.errors = map[string]float64{}
			}
			if !maps.Equal(got.durations, tt.want.durations) || !maps.Equal(got.errors, tt.want.errors) {
				t.Errorf("metrics = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestProxyMetricsCanceled covers a client that gives up before the upstream
// answers.
func TestProxyMetricsCanceled(t *testing.T) {
	arrived := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	})
	m := newUpstreamMetrics()
	front, _ := newMeteredFront(t, testChatConfig(mustParseURL(t, up.URL)), m)

	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		select {
		case <-arrived:
		case <-time.After(guard):
		}
		cancel()
	}()
	if resp, err := http.DefaultClient.Do(newChatRequest(t, ctx, http.MethodGet, front.URL+"/chat/models", nil)); err == nil {
		resp.Body.Close()
		t.Fatalf("request succeeded with %d, want it canceled", resp.StatusCode)
	}
	front.Close()
	got := readUpstreamCounts(t, m)
	if want := (upstreamCounts{durations: map[string]int{}, errors: map[string]float64{upstreamCanceled: 1}}); !maps.Equal(got.durations, want.durations) || !maps.Equal(got.errors, want.errors) {
		t.Errorf("metrics = %+v, want %+v", got, want)
	}
}
