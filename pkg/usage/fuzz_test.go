package usage_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/google/go-cmp/cmp"

	"github.com/jwtgate/jwtgate/pkg/usage"
)

// FuzzReader feeds any bytes, cut anywhere, through every surface and format:
// the Reader never panics, passes the bytes unchanged when not stripping, and
// when stripping only ever removes bytes (its output is a subsequence of the
// input) and gives the same output however the input is cut.
func FuzzReader(f *testing.F) {
	for _, name := range []string{"chat_stream_usage.sse", "responses_stream.sse", "messages_stream.sse", "chat_completion.json"} {
		f.Add(mustRead(f, name), uint16(100))
	}
	f.Add([]byte("data: {\"choices\":[] , \"usage\" : null }\r\n\r\n"), uint16(7))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		k := 0
		if len(data) > 0 {
			k = int(cut) % len(data)
		}
		for s := usage.SurfaceUnknown; s <= usage.SurfaceMessages; s++ {
			for _, f := range []usage.Format{usage.FormatJSON, usage.FormatEventStream} {
				out, _ := readThrough(t, splitAt(data, k), s, f)
				if !bytes.Equal(out, data) {
					t.Fatalf("surface %v format %v: bytes changed", s, f)
				}
			}
		}
		whole, _ := readThrough(t, io.NopCloser(bytes.NewReader(data)), usage.SurfaceChatCompletions, usage.FormatEventStream, usage.StripUsageChunk())
		cutOut, _ := readThrough(t, splitAt(data, k), usage.SurfaceChatCompletions, usage.FormatEventStream, usage.StripUsageChunk())
		if !bytes.Equal(whole, cutOut) {
			t.Fatalf("stripped output depends on where the input is cut (%d):\n%q\n%q", k, whole, cutOut)
		}
		if !isSubsequence(whole, data) {
			t.Fatalf("stripping added bytes: %q from %q", whole, data)
		}
	})
}

func isSubsequence(sub, of []byte) bool {
	for _, b := range sub {
		i := bytes.IndexByte(of, b)
		if i < 0 {
			return false
		}
		of = of[i+1:]
	}
	return true
}

// FuzzIncludeStreamUsage: whatever the body, an injected result is one JSON
// object asking for the usage chunk, equal to the body in every other member.
func FuzzIncludeStreamUsage(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","stream":true}`, `{"stream":true,"stream_options":{"include_usage":false}}`,
		`{"stream":true,"stream_options":null}`, `{"stream":true,"stream_options":{}}`, `{"stream" : true , "x":[1,{"y":2}] }`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		out, injected, err := usage.IncludeStreamUsage(body)
		if !bytes.Equal(body, orig) {
			t.Fatal("the input was changed")
		}
		if err != nil || !injected {
			if !bytes.Equal(out, body) {
				t.Fatalf("not injected (%v) but changed: %q -> %q", err, body, out)
			}
			return
		}
		var before, after map[string]any
		if err := json.Unmarshal(body, &before); err != nil {
			t.Fatalf("injected into a body that does not decode: %v", err)
		}
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("the result does not decode: %v\n%q", err, out)
		}
		opts, _ := after["stream_options"].(map[string]any)
		if opts["include_usage"] != true {
			t.Fatalf("include_usage not true in %q", out)
		}
		delete(opts, "include_usage")
		if b, ok := before["stream_options"].(map[string]any); ok {
			delete(b, "include_usage")
		} else {
			delete(before, "stream_options")
			if len(opts) == 0 {
				delete(after, "stream_options")
			}
		}
		if diff := cmp.Diff(before, after); diff != "" {
			t.Fatalf("other members changed (-before +after):\n%s", diff)
		}
	})
}
