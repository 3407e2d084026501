package usage_test

import (
	"errors"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/usage"
)

func TestIncludeStreamUsage(t *testing.T) {
	tests := []struct {
		name     string
		in, want string
		injected bool
		wantErr  error
	}{
		{"added to a streamed request",
			`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true}`,
			`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`, true, nil},
		{"white space and member order kept",
			"{\n  \"stream\" : true ,\n  \"model\": \"gpt-4o\",\n  \"n\": 1e0\n}\n",
			"{\n  \"stream\" : true ,\n  \"model\": \"gpt-4o\",\n  \"n\": 1e0\n,\"stream_options\":{\"include_usage\":true}}\n", true, nil},
		{"escapes kept as written",
			`{"messages":[{"content":"caf\u00e9 \"x\""}],"stream":true}`,
			`{"messages":[{"content":"caf\u00e9 \"x\""}],"stream":true,"stream_options":{"include_usage":true}}`, true, nil},
		{"member added to stream_options",
			`{"stream":true,"stream_options":{"include_obfuscation":false}}`,
			`{"stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true}}`, true, nil},
		{"empty stream_options",
			`{"stream":true,"stream_options":{ }}`,
			`{"stream":true,"stream_options":{ "include_usage":true}}`, true, nil},
		{"false turned true",
			`{"stream":true,"stream_options":{"include_usage": false}}`,
			`{"stream":true,"stream_options":{"include_usage": true}}`, true, nil},
		{"null include_usage turned true",
			`{"stream":true,"stream_options":{"include_usage":null}}`,
			`{"stream":true,"stream_options":{"include_usage":true}}`, true, nil},
		{"null stream_options replaced",
			`{"stream_options":null,"stream":true}`,
			`{"stream_options":{"include_usage":true},"stream":true}`, true, nil},
		{"client asked already",
			`{"stream":true,"stream_options":{"include_usage":true}}`,
			`{"stream":true,"stream_options":{"include_usage":true}}`, false, nil},
		{"not streamed",
			`{"model":"gpt-4o","stream":false}`, `{"model":"gpt-4o","stream":false}`, false, nil},
		{"no stream member",
			`{"model":"gpt-4o"}`, `{"model":"gpt-4o"}`, false, nil},
		{"stream not a boolean",
			`{"stream":"true"}`, `{"stream":"true"}`, false, nil},
		{"stream_options of another type left to the upstream",
			`{"stream":true,"stream_options":[]}`, `{"stream":true,"stream_options":[]}`, false, nil},
		{"include_usage of another type left to the upstream",
			`{"stream":true,"stream_options":{"include_usage":"yes"}}`, `{"stream":true,"stream_options":{"include_usage":"yes"}}`, false, nil},
		{"nested stream ignored",
			`{"metadata":{"stream":true}}`, `{"metadata":{"stream":true}}`, false, nil},
		{"not JSON", `stream=true`, `stream=true`, false, usage.ErrNotJSONObject},
		{"an array", `[{"stream":true}]`, `[{"stream":true}]`, false, usage.ErrNotJSONObject},
		{"duplicate member", `{"stream":true,"stream":false}`, `{"stream":true,"stream":false}`, false, usage.ErrNotJSONObject},
		{"duplicate inside stream_options", `{"stream":true,"stream_options":{"a":1,"a":2}}`,
			`{"stream":true,"stream_options":{"a":1,"a":2}}`, false, usage.ErrNotJSONObject},
		{"trailing data", `{"stream":true} {}`, `{"stream":true} {}`, false, usage.ErrNotJSONObject},
		{"cut short", `{"stream":true,`, `{"stream":true,`, false, usage.ErrNotJSONObject},
		{"invalid UTF-8", "{\"stream\":true,\"m\":\"\xff\"}", "{\"stream\":true,\"m\":\"\xff\"}", false, usage.ErrNotJSONObject},
		{"empty", ``, ``, false, usage.ErrNotJSONObject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, injected, err := usage.IncludeStreamUsage([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if string(out) != tt.want || injected != tt.injected {
				t.Errorf("got %s (injected %v), want %s (injected %v)", out, injected, tt.want, tt.injected)
			}
		})
	}
}

// TestIncludeStreamUsageDoesNotChangeItsInput: the body is copied, never
// written, so the caller may still hold it.
func TestIncludeStreamUsageDoesNotChangeItsInput(t *testing.T) {
	in := []byte(`{"stream":true,"stream_options":{"include_usage":false}}`)
	keep := string(in)
	if _, _, err := usage.IncludeStreamUsage(in); err != nil {
		t.Fatal(err)
	}
	if string(in) != keep {
		t.Errorf("input changed to %s", in)
	}
}

// TestIncludeStreamUsageErrorQuotesNothing: an error never carries the body,
// which holds the user's messages.
func TestIncludeStreamUsageErrorQuotesNothing(t *testing.T) {
	_, _, err := usage.IncludeStreamUsage([]byte(`{"content":"secret-word-7f3a",`))
	if err == nil || err.Error() != usage.ErrNotJSONObject.Error() {
		t.Errorf("error %q, want exactly %q", err, usage.ErrNotJSONObject)
	}
}
