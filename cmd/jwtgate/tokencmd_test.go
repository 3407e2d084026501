package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jwtgate/jwtgate/pkg/token"
)

const testAPIKey = "sk-test-0123456789abcdef"

func TestTokenIssueVerifyRoundTrip(t *testing.T) {
	cleanEnv(t)
	secret := newSecret(t)
	t.Setenv("JWTGATE_JWT_SECRET", secret)

	issued := mustRun(t, "", "token", "issue", "--api-key", testAPIKey, "--subject", "alice", "--ttl", "10m")
	raw := strings.TrimSuffix(issued.stdout, "\n")
	if strings.Count(raw, ".") != 2 || strings.ContainsAny(raw, " \n") {
		t.Fatalf("stdout is not one compact JWS line: %q", issued.stdout)
	}
	assertNotContains(t, "issue output", issued.stdout+issued.stderr, testAPIKey, secret)
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	assertNotContains(t, "token payload", string(payload), testAPIKey)

	tests := []struct {
		name  string
		stdin string
		args  []string
	}{
		{name: "argument", args: []string{"token", "verify", raw}},
		{name: "stdin", stdin: raw + "\n", args: []string{"token", "verify"}},
		{name: "stdin dash", stdin: "  " + raw + "\r\n", args: []string{"token", "verify", "-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRun(t, tt.stdin, tt.args...)
			assertNotContains(t, "verify output", r.stdout+r.stderr, testAPIKey, secret, raw)

			var raw map[string]json.RawMessage
			if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
				t.Fatalf("stdout is not a JSON object: %v\n%s", err, r.stdout)
			}
			keys := slices.Sorted(maps.Keys(raw))
			if l := string(raw["limits"]); l != "{}" {
				t.Errorf("limits = %s, want {}", l)
			}
			got := map[string]string{}
			for k, v := range raw {
				if k == "limits" {
					continue
				}
				var s string
				if err := json.Unmarshal(v, &s); err != nil {
					t.Fatalf("claim %s is not a string: %s", k, v)
				}
				got[k] = s
			}
			wantKeys := []string{"api_key_fingerprint", "aud", "exp", "iat", "iss", "jti", "kid", "limits", "nbf", "session_start", "sid", "sub"}
			if diff := cmp.Diff(wantKeys, keys); diff != "" {
				t.Errorf("claim names (-want +got):\n%s", diff)
			}
			if got["sub"] != "alice" || got["iss"] != "jwtgate" || got["aud"] != "jwtgate" {
				t.Errorf("sub, iss, aud = %q, %q, %q", got["sub"], got["iss"], got["aud"])
			}
			if want := secretFingerprint(t, secret, testAPIKey); got["api_key_fingerprint"] != want {
				t.Errorf("api_key_fingerprint = %q, want %q", got["api_key_fingerprint"], want)
			}
			iat, err1 := time.Parse(time.RFC3339, got["iat"])
			exp, err2 := time.Parse(time.RFC3339, got["exp"])
			if err := errors.Join(err1, err2); err != nil {
				t.Fatal(err)
			}
			if d := exp.Sub(iat); d != 10*time.Minute {
				t.Errorf("exp - iat = %s, want 10m", d)
			}
			if got["session_start"] != got["iat"] {
				t.Errorf("session_start = %s, want iat %s", got["session_start"], got["iat"])
			}
		})
	}
}

func TestTokenIssueAPIKeyFromStdin(t *testing.T) {
	cleanEnv(t)
	secret := newSecret(t)
	t.Setenv("JWTGATE_JWT_SECRET", secret)
	issued := mustRun(t, testAPIKey+"\n", "token", "issue", "--api-key", "-")
	r := mustRun(t, issued.stdout, "token", "verify")
	var got struct {
		Sub string `json:"sub"`
		AKF string `json:"api_key_fingerprint"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	fp := secretFingerprint(t, secret, testAPIKey)
	if got.AKF != fp {
		t.Errorf("api_key_fingerprint = %q, want that of the key read from stdin", got.AKF)
	}
	if want := "apikey:" + fp; got.Sub != want {
		t.Errorf("sub = %q, want %q", got.Sub, want)
	}
}

func TestTokenIssueWithSecretFile(t *testing.T) {
	cleanEnv(t)
	file := filepath.Join(t.TempDir(), "secret")
	mustRun(t, "", "keys", "generate", "--alg", token.HS512, "--out", file)
	t.Setenv("JWTGATE_JWT_SECRET_FILE", file)
	t.Setenv("JWTGATE_JWT_ALGORITHM", token.HS512)
	issued := mustRun(t, "", "token", "issue", "--api-key", testAPIKey)
	hdr, err := base64.RawURLEncoding.DecodeString(strings.Split(issued.stdout, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(hdr), `"alg":"HS512"`) {
		t.Errorf("header = %s, want HS512", hdr)
	}
	mustRun(t, issued.stdout, "token", "verify")
	secret, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	assertNotContains(t, "output", issued.stdout+issued.stderr, strings.TrimSpace(string(secret)))
}

func TestTokenVerifyRefused(t *testing.T) {
	cleanEnv(t)
	secret := newSecret(t)
	t.Setenv("JWTGATE_JWT_SECRET", secret)
	raw := strings.TrimSpace(mustRun(t, "", "token", "issue", "--api-key", testAPIKey).stdout)
	parts := strings.Split(raw, ".")

	// A token whose subject was changed after signing.
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(string(payload), `"sub":"apikey:`, `"sub":"admin:`, 1)
	if forged == string(payload) {
		t.Fatalf("payload has no sub to alter: %s", payload)
	}
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]

	// A token from another secret (its kid is derived from that secret).
	otherKS := mustKeySet(t, newSecret(t))
	other := mustIssue(t, otherKS, time.Now())

	// An expired token signed with the configured secret.
	expired := mustIssue(t, mustKeySet(t, secret), time.Now().Add(-2*time.Hour))

	tests := []struct {
		name      string
		token     string
		wantErr   error
		wantLabel string
	}{
		{name: "tampered payload", token: tampered, wantErr: token.ErrTokenSignatureInvalid, wantLabel: "signature"},
		{name: "other secret", token: other, wantErr: token.ErrTokenUnknownKey, wantLabel: "unknown_key"},
		{name: "expired", token: expired, wantErr: token.ErrTokenExpired, wantLabel: "expired"},
		{name: "garbage", token: "not-a-token", wantErr: token.ErrTokenMalformed, wantLabel: "malformed"},
		{name: "too large", token: strings.Repeat("a", token.MaxTokenSize+1), wantErr: token.ErrTokenTooLarge, wantLabel: "too_large"},
	}
	for _, tt := range tests {
		for _, viaStdin := range []bool{false, true} {
			name := tt.name + "/argument"
			args, stdin := []string{"token", "verify", tt.token}, ""
			if viaStdin {
				name = tt.name + "/stdin"
				args, stdin = []string{"token", "verify"}, tt.token+"\n"
			}
			t.Run(name, func(t *testing.T) {
				r := run(t, stdin, args...)
				if !errors.Is(r.err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", r.err, tt.wantErr)
				}
				_, desc := token.Reason(tt.wantErr)
				for _, want := range []string{desc, "(" + tt.wantLabel + ")"} {
					if !strings.Contains(r.stderr, want) {
						t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
					}
				}
				if r.stdout != "" {
					t.Errorf("stdout = %q, want empty", r.stdout)
				}
				assertNotContains(t, "output", r.stdout+r.stderr, testAPIKey, secret, tt.token)
			})
		}
	}
}

func TestTokenCommandsNeedConfiguredKey(t *testing.T) {
	cleanEnv(t)
	tests := []struct {
		name  string
		stdin string
		args  []string
	}{
		{name: "issue", args: []string{"token", "issue", "--api-key", testAPIKey}},
		{name: "verify", args: []string{"token", "verify", "a.b.c"}},
		{name: "jwks", args: []string{"keys", "jwks"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.stdin, tt.args...)
			if r.err == nil {
				t.Fatal("want an error without a configured secret")
			}
			if want := "needs jwt.secret, jwt.secret_file or jwt.keys"; !strings.Contains(r.err.Error(), want) {
				t.Errorf("error = %q, want it to contain %q", r.err, want)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want empty", r.stdout)
			}
		})
	}
}

func TestTokenIssueBadInput(t *testing.T) {
	cleanEnv(t)
	t.Setenv("JWTGATE_JWT_SECRET", newSecret(t))
	tests := []struct {
		name    string
		stdin   string
		args    []string
		wantErr error
	}{
		{name: "key with a space", args: []string{"--api-key", "sk bad"}, wantErr: token.ErrAPIKeyInvalid},
		{name: "empty key on stdin", stdin: "\n", args: []string{"--api-key", "-"}},
		{name: "negative ttl", args: []string{"--api-key", testAPIKey, "--ttl", "-1m"}, wantErr: token.ErrTTLInvalid},
		{name: "missing key", args: nil},
		{name: "malformed limits", args: []string{"--api-key", testAPIKey, "--limits", `{"models":["a*b"]}`}, wantErr: token.ErrLimitsInvalid},
		{name: "limits not JSON", args: []string{"--api-key", testAPIKey, "--limits", `models=a`}, wantErr: token.ErrLimitsInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.stdin, append([]string{"token", "issue"}, tt.args...)...)
			if r.err == nil {
				t.Fatal("want an error")
			}
			if tt.wantErr != nil && !errors.Is(r.err, tt.wantErr) {
				t.Errorf("error = %v, want %v", r.err, tt.wantErr)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want empty", r.stdout)
			}
			assertNotContains(t, "stderr", r.stderr, "sk bad")
		})
	}
}

func TestTokenIssueLimits(t *testing.T) {
	cleanEnv(t)
	t.Setenv("JWTGATE_JWT_SECRET", newSecret(t))
	t.Setenv("JWTGATE_LIMITS_DEFAULT_MAX_OUTPUT_TOKENS", "256")
	t.Setenv("JWTGATE_LIMITS_MAX_MODELS", "gpt-4o*")
	t.Setenv("JWTGATE_LIMITS_MAX_TOTAL_TOKENS", "10000")

	issued := mustRun(t, "", "token", "issue", "--api-key", testAPIKey, "--limits", `{"models":["gpt-4o-mini"],"paths":["/chat/completions"]}`)
	r := mustRun(t, "", "token", "verify", strings.TrimSpace(issued.stdout))
	var got struct {
		Limits json.RawMessage `json:"limits"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	// Asked, then the default, then the ceiling, as POST /sessions does.
	want := `{"models":["gpt-4o-mini"],"paths":["/chat/completions"],"max_output_tokens":256,"total_tokens":10000}`
	var compact bytes.Buffer
	if err := json.Compact(&compact, got.Limits); err != nil || compact.String() != want {
		t.Errorf("token verify limits = %s, want %s", got.Limits, want)
	}

	for _, asked := range []string{`{"models":["claude-*"]}`, `{"total_tokens":10001}`} {
		r := run(t, "", "token", "issue", "--api-key", testAPIKey, "--limits", asked)
		if !errors.Is(r.err, token.ErrLimitAboveCeiling) || r.stdout != "" {
			t.Errorf("token issue --limits %s: error %v, stdout %q; want it refused above the ceiling", asked, r.err, r.stdout)
		}
	}
}

// mustKeySet returns the key set the CLI builds for jwt.secret = secret.
func mustKeySet(t *testing.T, secret string) *token.KeySet {
	t.Helper()
	k, err := token.NewHMACKey("", token.HS256, []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := token.NewKeySet("", []*token.Key{k})
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// mustIssue returns a token for testAPIKey issued by ks at now, with the default
// issuer and audience.
func mustIssue(t *testing.T, ks *token.KeySet, now time.Time) string {
	t.Helper()
	iss, err := token.NewIssuer(ks, "jwtgate", "jwtgate", token.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	issued, err := iss.Issue(t.Context(), token.Params{APIKey: testAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	return issued.Token
}
