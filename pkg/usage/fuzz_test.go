package usage_test

import (
	"bytes"
	"io"
	"testing"

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
