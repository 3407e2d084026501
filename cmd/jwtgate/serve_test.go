package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jwtgate/jwtgate/pkg/config"
	"github.com/jwtgate/jwtgate/pkg/server"
)

// listenAddr waits for the log line with message msg ("listening") and returns its
// addr attribute.
func listenAddr(t *testing.T, logs *syncBuffer, done <-chan error, msg string) string {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
				return rec.Addr
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve returned before listening: %v\nlogs:\n%s", err, logs.String())
		case <-t.Context().Done():
			t.Fatal("test ended before the server listened")
		case <-tick.C:
		}
	}
}

func TestServeShutsDownOnCancel(t *testing.T) {
	cfg := config.Default()
	cfg.Server.Addr = "127.0.0.1:0"
	secret, seal, allowed := newSecret(t), newSecret(t), "sk-allowed-0123456789"
	cfg.JWT.Secret = config.Secret(secret)
	cfg.JWT.SealSecret = config.Secret(seal)
	cfg.APIKeys.Allowed = []config.Secret{config.Secret(allowed)}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- serve(ctx, fixedConfig(cfg), &logs, nil, nil) }()
	addr := listenAddr(t, &logs, done, "listening")

	if host, port, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("listening address = %q, want 127.0.0.1 and a real port", addr)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", resp.StatusCode)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve after cancel = %v, want nil", err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
	out := logs.String()
	for _, want := range []string{`"msg":"starting jwtgate"`, `"msg":"shutting down"`, `"msg":"stopped"`, `"secret":"[redacted]"`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
	assertNotContains(t, "logs", out, secret, seal, allowed)
}

func TestServeAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := config.Default()
	cfg.Server.Addr = ln.Addr().String()
	var logs syncBuffer
	err = serve(t.Context(), fixedConfig(cfg), &logs, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "server.addr") {
		t.Fatalf("serve on a taken port = %v, want an error naming server.addr", err)
	}
}

func TestLoggerDurationsReadable(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var buf syncBuffer
			logger, err := newLogger(&buf, config.Log{Level: "info", Format: format})
			if err != nil {
				t.Fatal(err)
			}
			logger.Info("x", slog.Group("g", slog.Duration("ttl", 15*time.Minute)))
			if !strings.Contains(buf.String(), "15m0s") {
				t.Errorf("log line %q lacks 15m0s", buf.String())
			}
		})
	}
	if _, err := newLogger(io.Discard, config.Log{Level: "loud"}); err == nil {
		t.Error("newLogger accepted log.level loud")
	}
	if _, err := newLogger(io.Discard, config.Log{Format: "xml"}); err == nil {
		t.Error("newLogger accepted log.format xml")
	}
}

func TestServeMetricsListener(t *testing.T) {
	cfg := config.Default()
	cfg.Server.Addr = "127.0.0.1:0"
	cfg.Metrics.Addr = "127.0.0.1:0"
	cfg.JWT.Secret = config.Secret(newSecret(t))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- serve(ctx, fixedConfig(cfg), &logs, nil, nil) }()
	addr := listenAddr(t, &logs, done, "listening")
	maddr := listenAddr(t, &logs, done, "metrics listening")
	if maddr == addr {
		t.Fatalf("metrics share the public address %s", addr)
	}

	resp, err := http.Get("http://" + maddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "jwtgate_") {
		t.Errorf("GET /metrics on the metrics listener = %d, want 200 with jwtgate_ series:\n%.500s", resp.StatusCode, body)
	}
	if resp, err := http.Get("http://" + maddr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("the metrics listener serves the API")
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve = %v, want nil", err)
	}
	if _, err := http.Get("http://" + maddr + "/metrics"); err == nil {
		t.Error("the metrics listener still answers after shutdown")
	}
}

func TestShutdownGivesUpAfterTimeout(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release // a stream that outlives the shutdown timeout
	})}
	defer close(release)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-started

	err = shutdown([]*http.Server{hs}, errc, 10*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown with a request in flight past the timeout = %v, want %v", err, context.DeadlineExceeded)
	}
}

func TestServerConfig(t *testing.T) {
	tests := []struct {
		name        string
		enabled     bool
		addr        string
		wantPublic  bool
		wantProxies []string
	}{
		{name: "defaults: metrics on the public port", enabled: true, wantPublic: true},
		{name: "separate metrics listener", enabled: true, addr: "127.0.0.1:9090"},
		{name: "metrics off", enabled: false},
		{name: "trusted proxies passed on", enabled: true, wantPublic: true, wantProxies: []string{"10.0.0.0/8", "192.0.2.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Metrics.Enabled, cfg.Metrics.Addr = tt.enabled, tt.addr
			cfg.Server.TrustedProxies = tt.wantProxies
			sc := serverConfig(cfg)
			if sc.PublicMetrics != tt.wantPublic {
				t.Errorf("PublicMetrics = %v, want %v", sc.PublicMetrics, tt.wantPublic)
			}
			if strings.Join(sc.TrustedProxies, ",") != strings.Join(tt.wantProxies, ",") {
				t.Errorf("TrustedProxies = %q, want %q", sc.TrustedProxies, tt.wantProxies)
			}
			if sc.SessionsPerMinute != cfg.RateLimit.SessionsPerMinute || sc.Burst != cfg.RateLimit.Burst {
				t.Errorf("rate limit = %d/min burst %d, want %d/min burst %d", sc.SessionsPerMinute, sc.Burst, cfg.RateLimit.SessionsPerMinute, cfg.RateLimit.Burst)
			}
		})
	}
}

// TestChatMethodsWired checks that chat.allowed_methods reaches the server, and
// that the configuration's default is the server's own (the two packages cannot
// share the list: pkg/config does not import pkg/server).
func TestChatMethodsWired(t *testing.T) {
	cfg := config.Default()
	if diff := cmp.Diff(server.DefaultAllowedMethods(), cfg.Chat.AllowedMethods); diff != "" {
		t.Errorf("chat.allowed_methods default differs from server.DefaultAllowedMethods (-server +config):\n%s", diff)
	}
	cfg.Chat.AllowedMethods = []string{"POST"}
	if got := serverConfig(cfg).Chat.AllowedMethods; !slices.Equal(got, []string{"POST"}) {
		t.Errorf("server AllowedMethods = %q, want [POST]", got)
	}
}
