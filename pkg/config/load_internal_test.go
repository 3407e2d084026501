package config

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/viper"
)

func TestConfigFields(t *testing.T) {
	var keys []string
	for _, f := range configFields() {
		keys = append(keys, f.key)
		if f.fileOnly != (f.key == "jwt.keys") {
			t.Errorf("%s: fileOnly = %v, want it only for jwt.keys", f.key, f.fileOnly)
		}
	}
	// A sample of the fixed names from the design; the rest follow the same tags.
	for _, want := range []string{
		"server.addr", "jwt.secret", "jwt.secret_file", "jwt.issuer", "jwt.audience", "jwt.ttl",
		"jwt.api_key_claim", "jwt.keys", "jwt.signing_key", "jwt.seal_secret", "jwt.not_before",
		"api_keys.allowed", "chat.upstream_url", "chat.upstream_auth_header",
		"chat.upstream_auth_scheme", "chat.echo_delay", "rate_limit.sessions_per_minute", "log.level",
	} {
		if !slices.Contains(keys, want) {
			t.Errorf("configFields lacks %s", want)
		}
	}
	if slices.Contains(keys, "jwt.keys.private_key_pem") || slices.ContainsFunc(keys, func(k string) bool {
		return strings.HasPrefix(k, "jwt.keys.")
	}) {
		t.Errorf("configFields descends into jwt.keys entries: %v", keys)
	}
}

func TestExampleFileHasEveryKey(t *testing.T) {
	b, err := os.ReadFile("../../config/jwtgate.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(b)); err != nil {
		t.Fatalf("parsing the example: %v", err)
	}
	var want []string
	for _, f := range configFields() {
		want = append(want, f.key)
	}
	got := v.AllKeys()
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keys in the example file (-want +got):\n%s", diff)
	}
}

func TestYAMLErrorLine(t *testing.T) {
	for _, tt := range []struct {
		in, want string
	}{
		{in: "While parsing config: yaml: line 2: did not find expected key", want: " (line 2)"},
		{in: "yaml: unmarshal errors:\n  line 14: cannot unmarshal !!str `hunter2...` into map", want: " (line 14)"},
		{in: "yaml: unknown anchor 'hunter2' referenced", want: ""},
		{in: "pipeline 7", want: " (line 7)"},
		{in: "line x", want: ""},
	} {
		if got := yamlErrorLine(tt.in); got != tt.want {
			t.Errorf("yamlErrorLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestLoadYAMLErrorsNeverQuoteInput passes files that make the parser quote their
// content in its several ways; the error keeps the path and a line, never the input.
func TestLoadYAMLErrorsNeverQuoteInput(t *testing.T) {
	const secret = "S3CRETvalue0123456789"
	for _, content := range []string{
		"*" + secret + "\n",
		"!" + secret + " a\n",
		"a: `" + secret + "\n",
		"{" + secret + ": [\n",
		"? [" + secret + "]\n: x\n",
		"server:\n  addr: [" + secret + "\n",
	} {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("JWTGATE_CONFIG", path)
		_, err := Load(nil)
		if err == nil {
			t.Errorf("Load(%q) succeeded, want an error", content)
			continue
		}
		if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(secret)) {
			t.Errorf("error quotes the file: %v", err)
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error does not name the file: %v", err)
		}
	}
}

func TestSplitList(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{in: "", want: []string{}},
		{in: "  ", want: []string{}},
		{in: "a", want: []string{"a"}},
		{in: "a,b", want: []string{"a", "b"}},
		{in: " a , b ", want: []string{"a", "b"}},
		{in: "a,,b", want: []string{"a", "", "b"}},
	} {
		if diff := cmp.Diff(tt.want, splitList(tt.in)); diff != "" {
			t.Errorf("splitList(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}
