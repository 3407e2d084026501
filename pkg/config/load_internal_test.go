package config

import (
	"bytes"
	"os"
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

func TestRedactYAMLError(t *testing.T) {
	for _, tt := range []struct {
		in, want string
	}{
		{in: "While parsing config: yaml: line 2: did not find expected key", want: "yaml: line 2: did not find expected key"},
		{in: "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `hunter2...` into map[string]interface {}",
			want: "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `...` into map[string]interface {}"},
		{in: "a `x` b `y` c", want: "a `...` b `...` c"},
		{in: "unterminated `secret", want: "unterminated `...`"},
		{in: "yaml: invalid map key: map[string]interface {}{\"k\":\"secret\"}", want: "yaml: invalid map key"},
	} {
		if got := redactYAMLError(tt.in); got != tt.want {
			t.Errorf("redactYAMLError(%q) = %q, want %q", tt.in, got, tt.want)
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
