package config_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jwtgate/jwtgate/pkg/config"
)

func TestValidateDPoP(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(d *config.DPoP)
		want string // the start of the one expected problem; "" means valid
	}{
		{name: "defaults", edit: func(*config.DPoP) {}},
		{name: "everything on", edit: func(d *config.DPoP) {
			d.Required, d.RequireNonce, d.MaxAge, d.NonceWindow, d.NonceSecret = true, true, 10*time.Minute, time.Second, secret32
		}},
		{name: "max age zero", edit: func(d *config.DPoP) { d.MaxAge = 0 }, want: "dpop.max_age: want more than 0s and at most 10m0s, got 0s"},
		{name: "max age too long", edit: func(d *config.DPoP) { d.MaxAge = 11 * time.Minute }, want: "dpop.max_age: want more than 0s"},
		{name: "replay cache empty", edit: func(d *config.DPoP) { d.ReplayCacheSize = 0 }, want: "dpop.replay_cache_size: want 1 to 10000000, got 0"},
		{name: "replay cache huge", edit: func(d *config.DPoP) { d.ReplayCacheSize = 10_000_001 }, want: "dpop.replay_cache_size: want 1 to 10000000"},
		{name: "nonce window too short", edit: func(d *config.DPoP) { d.NonceWindow = time.Second - 1 }, want: "dpop.nonce_window: want 1s to 24h0m0s"},
		{name: "nonce window too long", edit: func(d *config.DPoP) { d.NonceWindow = 25 * time.Hour }, want: "dpop.nonce_window: want 1s to 24h0m0s"},
		{name: "nonce secret short", edit: func(d *config.DPoP) { d.NonceSecret = config.Secret(secret32[1:]) }, want: "dpop.nonce_secret: must be at least 32 bytes, got 31"},
		{name: "nonce secret file not read", edit: func(d *config.DPoP) { d.NonceSecretFile = "/run/nonce" }, want: "dpop.nonce_secret_file: not read"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			tt.edit(&c.DPoP)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if errs := unwrapAll(err); len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tt.want) {
				t.Errorf("Validate = %v, want one problem starting with %q", err, tt.want)
			}
			wantNoSecret(t, fmt.Sprint(err), string(c.DPoP.NonceSecret))
		})
	}
}

func TestLoadDPoP(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		c := mustLoadYAML(t, "")
		want := config.DPoP{MaxAge: time.Minute, ReplayCacheSize: 100_000, NonceWindow: 5 * time.Minute}
		if diff := cmp.Diff(want, c.DPoP); diff != "" {
			t.Errorf("dpop defaults (-want +got):\n%s", diff)
		}
	})
	t.Run("file, with the secret in a file", func(t *testing.T) {
		secretFile := writeFile(t, "nonce", secret32+"\n")
		c := mustLoadYAML(t, fmt.Sprintf("dpop:\n  required: true\n  require_nonce: true\n  max_age: 30s\n  replay_cache_size: 5000\n"+
			"  nonce_window: 2m\n  nonce_secret_file: %q\n", secretFile))
		want := config.DPoP{Required: true, RequireNonce: true, MaxAge: 30 * time.Second, ReplayCacheSize: 5000,
			NonceWindow: 2 * time.Minute, NonceSecret: secret32, NonceSecretFile: secretFile}
		if diff := cmp.Diff(want, c.DPoP); diff != "" {
			t.Errorf("dpop from the file (-want +got):\n%s", diff)
		}
		if !slices.Contains(c.Files(), secretFile) {
			t.Errorf("Files() = %q lacks dpop.nonce_secret_file", c.Files())
		}
	})
	t.Run("environment", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("JWTGATE_DPOP_REQUIRED", "true")
		t.Setenv("JWTGATE_DPOP_REQUIRE_NONCE", "true")
		t.Setenv("JWTGATE_DPOP_MAX_AGE", "45s")
		t.Setenv("JWTGATE_DPOP_NONCE_SECRET", secret32)
		c, err := config.Load(nil)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if !c.DPoP.Required || !c.DPoP.RequireNonce || c.DPoP.MaxAge != 45*time.Second || string(c.DPoP.NonceSecret) != secret32 {
			t.Errorf("dpop from the environment: %+v", c.DPoP)
		}
	})
	t.Run("secret and its file", func(t *testing.T) {
		_, err := loadYAML(t, fmt.Sprintf("dpop:\n  nonce_secret: %q\n  nonce_secret_file: %q\n", secret32, writeFile(t, "n", secret32)))
		wantErrContaining(t, err, "dpop.nonce_secret and dpop.nonce_secret_file are both set")
	})
	t.Run("bad values name their keys", func(t *testing.T) {
		_, err := loadYAML(t, "dpop:\n  max_age: 0s\n  nonce_window: 100ms\n  nonce_secret: short\n")
		wantErrContaining(t, err, "dpop.max_age", "dpop.nonce_window", "dpop.nonce_secret: must be at least 32 bytes, got 5")
		wantNoSecret(t, fmt.Sprint(err), "short")
	})
	t.Run("unknown key", func(t *testing.T) {
		_, err := loadYAML(t, "dpop:\n  leeway: 5s\n")
		wantErrContaining(t, err, `"dpop.leeway"`)
	})
}

func TestLogValueMasksNonceSecret(t *testing.T) {
	const planted = "planted-nonce-secret-0123456789abcdef"
	c := config.Default()
	c.DPoP.NonceSecret = planted
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	wantNoSecret(t, buf.String(), planted)
	if !strings.Contains(buf.String(), `"dpop":{"required":false,"require_nonce":false,"max_age":60000000000,`) {
		t.Errorf("the dpop group is missing: %s", buf.String())
	}
}
