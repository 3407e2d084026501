package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/config"
)

func TestLogValueMasksSecrets(t *testing.T) {
	const planted = "planted-secret-0123456789abcdef-0123456789"
	c := config.Default()
	c.JWT.Secret = planted + "-jwt"
	c.JWT.SealSecret = planted + "-seal"
	c.JWT.Keys = []config.Key{
		{KID: "a", Alg: "HS256", Secret: planted + "-key", SecretFile: "/run/a"},
		{KID: "b", Alg: "EdDSA", PrivateKeyFile: "/run/b.pem", PrivateKeyPEM: planted + "-pem"},
	}
	c.APIKeys.Allowed = []config.Secret{planted + "-api-1", planted + "-api-2"}
	c.Chat.UpstreamURL = mustURL(t, "https://user:"+planted+"@127.0.0.1:9000/v1?key="+planted+"#"+planted)
	c.Limits.RedisURL = config.RedisURL("rediss://default:" + planted + "@redis.internal:6380/1?dial_timeout=" + planted)

	var js, text bytes.Buffer
	slog.New(slog.NewJSONHandler(&js, nil)).Info("config", "config", c)
	slog.New(slog.NewTextHandler(&text, nil)).Info("config", "config", c)
	// fmt prints a *url.URL in full; Load refuses credentials in chat.upstream_url,
	// so the fmt cases use a URL a loaded configuration can hold.
	valid := c
	valid.Chat.UpstreamURL = mustURL(t, "https://127.0.0.1:9000/v1")
	for name, out := range map[string]string{
		"json": js.String(),
		"text": text.String(),
		"%v":   fmt.Sprintf("%v", valid),
		"%+v":  fmt.Sprintf("%+v", valid),
		"%#v":  fmt.Sprintf("%#v", valid.JWT),
		"%s":   fmt.Sprintf("%s", valid.JWT.Keys),
	} {
		t.Run(name, func(t *testing.T) {
			wantNoSecret(t, out, planted)
		})
	}

	var doc struct {
		Config struct {
			JWT struct {
				Secret     string
				TTL        int64 `json:"ttl"`
				Keys       map[string]map[string]string
				SealSecret string `json:"seal_secret"`
			} `json:"jwt"`
			APIKeys struct {
				Allowed int `json:"allowed"`
			} `json:"api_keys"`
			Chat struct {
				UpstreamURL string `json:"upstream_url"`
			} `json:"chat"`
			Limits struct {
				RedisURL string `json:"redis_url"`
			} `json:"limits"`
		} `json:"config"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatalf("decoding %s: %v", js.String(), err)
	}
	got := doc.Config
	if got.JWT.Secret != "[redacted]" || got.JWT.SealSecret != "[redacted]" {
		t.Errorf("secrets logged as %q and %q, want [redacted]", got.JWT.Secret, got.JWT.SealSecret)
	}
	if got.JWT.TTL != int64(c.JWT.TTL) {
		t.Errorf("jwt.ttl logged as %d, want %d", got.JWT.TTL, c.JWT.TTL)
	}
	if k := got.JWT.Keys["1"]; k["kid"] != "b" || k["private_key_file"] != "/run/b.pem" {
		t.Errorf("jwt.keys[1] logged as %v", k)
	}
	if got.Limits.RedisURL != "rediss://redis.internal:6380/1" {
		t.Errorf("limits.redis_url logged as %q, want scheme, host and path only", got.Limits.RedisURL)
	}
	if got.APIKeys.Allowed != 2 {
		t.Errorf("api_keys.allowed logged as %d, want the count 2", got.APIKeys.Allowed)
	}
	if got.Chat.UpstreamURL != "https://127.0.0.1:9000/v1" {
		t.Errorf("chat.upstream_url logged as %q, want scheme, host and path only", got.Chat.UpstreamURL)
	}
	if !strings.Contains(text.String(), "config.server.addr=127.0.0.1:8080") {
		t.Errorf("text log lacks server.addr: %s", text.String())
	}
}
