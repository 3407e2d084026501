package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/jwtgate/jwtgate/pkg/config"
)

func TestValidateCORS(t *testing.T) {
	for _, tt := range []struct {
		name string
		cors config.CORS
		// want is the start of the one expected problem; "" means valid.
		want string
	}{
		{name: "defaults", cors: config.Default().CORS},
		{name: "webview and web app", cors: config.CORS{
			AllowedOrigins: []string{"vscode-webview://*", "vscode-file://vscode-app", "https://app.example", "http://127.0.0.1:5173", "https://*.example.com"},
			AllowedHeaders: []string{"X-Trace-Id", "x-myco-*"},
			MaxAge:         time.Hour,
		}},
		{name: "max age zero", cors: config.CORS{MaxAge: 0}},
		{name: "negative max age", cors: config.CORS{MaxAge: -time.Second}, want: "cors.max_age: must not be negative, got -1s"},
		{name: "bare star", cors: config.CORS{AllowedOrigins: []string{"https://app.example", "*"}, MaxAge: time.Minute},
			want: `cors.allowed_origins[1]: invalid CORS origin "*": jwtgate never allows every origin`},
		{name: "path", cors: config.CORS{AllowedOrigins: []string{"https://app.example/"}, MaxAge: time.Minute},
			want: `cors.allowed_origins[0]: invalid CORS origin "https://app.example/": must not have a path`},
		{name: "mid-label star", cors: config.CORS{AllowedOrigins: []string{"https://a*.example.com"}, MaxAge: time.Minute},
			want: `cors.allowed_origins[0]: invalid CORS origin "https://a*.example.com": * may only be the whole leftmost label`},
		{name: "https star", cors: config.CORS{AllowedOrigins: []string{"https://*"}, MaxAge: time.Minute},
			want: `cors.allowed_origins[0]: invalid CORS origin "https://*": https://* would allow every web site`},
		{name: "null", cors: config.CORS{AllowedOrigins: []string{"null"}, MaxAge: time.Minute},
			want: `cors.allowed_origins[0]: invalid CORS origin "null"`},
		{name: "upper case host", cors: config.CORS{AllowedOrigins: []string{"https://App.example"}, MaxAge: time.Minute},
			want: `cors.allowed_origins[0]: invalid CORS origin "https://App.example": write the host in lower case`},
		{name: "bad header", cors: config.CORS{AllowedHeaders: []string{"x-ok", "X Bad"}, MaxAge: time.Minute},
			want: `cors.allowed_headers[1]: invalid CORS header name "X Bad": not a valid header name`},
		{name: "star header", cors: config.CORS{AllowedHeaders: []string{"*"}, MaxAge: time.Minute},
			want: `cors.allowed_headers[0]: invalid CORS header name "*"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			c.CORS = tt.cors
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate succeeded, want %q", tt.want)
			}
			if errs := unwrapAll(err); len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tt.want) {
				t.Errorf("Validate = %q, want one problem starting with %q", err, tt.want)
			}
		})
	}
}

func TestLoadCORS(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		c := mustLoadYAML(t, "")
		if diff := cmp.Diff(config.CORS{MaxAge: 10 * time.Minute}, c.CORS, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("cors defaults (-want +got):\n%s", diff)
		}
	})
	t.Run("file", func(t *testing.T) {
		c := mustLoadYAML(t, "cors:\n  allowed_origins: [\"vscode-webview://*\", \"https://app.example\"]\n"+
			"  allowed_headers: [x-trace-id]\n  max_age: 1h\n")
		want := config.CORS{
			AllowedOrigins: []string{"vscode-webview://*", "https://app.example"},
			AllowedHeaders: []string{"x-trace-id"},
			MaxAge:         time.Hour,
		}
		if diff := cmp.Diff(want, c.CORS); diff != "" {
			t.Errorf("cors from the file (-want +got):\n%s", diff)
		}
	})
	t.Run("environment", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("JWTGATE_CORS_ALLOWED_ORIGINS", "vscode-webview://*, https://app.example,http://127.0.0.1:5173")
		t.Setenv("JWTGATE_CORS_ALLOWED_HEADERS", "x-trace-id,x-myco-*")
		t.Setenv("JWTGATE_CORS_MAX_AGE", "90s")
		c, err := config.Load(nil)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		want := config.CORS{
			AllowedOrigins: []string{"vscode-webview://*", "https://app.example", "http://127.0.0.1:5173"},
			AllowedHeaders: []string{"x-trace-id", "x-myco-*"},
			MaxAge:         90 * time.Second,
		}
		if diff := cmp.Diff(want, c.CORS); diff != "" {
			t.Errorf("cors from the environment (-want +got):\n%s", diff)
		}
	})
	t.Run("bad origin from the environment", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("JWTGATE_CORS_ALLOWED_ORIGINS", "https://app.example,*")
		_, err := config.Load(nil)
		wantErrContaining(t, err, "cors.allowed_origins[1]", `"*"`)
	})
	t.Run("negative max age", func(t *testing.T) {
		_, err := loadYAML(t, "cors:\n  max_age: -1m\n")
		wantErrContaining(t, err, "cors.max_age: must not be negative")
	})
	// There is no switch for Access-Control-Allow-Credentials: a key that looks
	// like one is unknown, as every unknown key is, and stops start-up.
	for _, key := range []string{"allow_credentials", "allowCredentials", "credentials"} {
		t.Run("unknown key "+key, func(t *testing.T) {
			_, err := loadYAML(t, "cors:\n  allowed_origins: [\"https://app.example\"]\n  "+key+": true\n")
			if !errors.Is(err, config.ErrUnknownKey) {
				t.Fatalf("Load = %v, want ErrUnknownKey", err)
			}
			wantErrContaining(t, err, `"cors.`+strings.ToLower(key)+`"`)
		})
	}
}
