package usage_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/usage"
)

// BenchmarkStreamEvent measures the cost of one streamed event through a
// Reader against reading the same bytes directly (reader=none, the baseline).
// Each op is one event; allocs/op must be 0.
func BenchmarkStreamEvent(b *testing.B) {
	chunk := []byte(`data: {"id":"chatcmpl-BpLk7Z2yQ0tWn3aXvR8cE1mD4fGhJ","object":"chat.completion.chunk","created":1751620473,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_34a54ae93c","choices":[{"index":0,"delta":{"content":" word"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	delta := []byte("event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" word"}}` + "\n\n")
	for _, bc := range []struct {
		name    string
		surface usage.Surface
		event   []byte
		opts    []usage.ReaderOption
		none    bool
		cut     int // bytes the Reader removes from each event
	}{
		{"reader=none/surface=chat", usage.SurfaceChatCompletions, chunk, nil, true, 0},
		{"reader=usage/surface=chat", usage.SurfaceChatCompletions, chunk, nil, false, 0},
		{"reader=strip/surface=chat", usage.SurfaceChatCompletions, chunk, []usage.ReaderOption{usage.StripUsageChunk()}, false, len(`,"usage":null`)},
		{"reader=usage/surface=messages", usage.SurfaceMessages, delta, nil, false, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var body io.Reader = &loop{event: bc.event}
			if !bc.none {
				body = usage.NewReader(&loop{event: bc.event}, bc.surface, usage.FormatEventStream, bc.opts...)
			}
			buf := make([]byte, len(bc.event))
			b.SetBytes(int64(len(bc.event)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := io.ReadFull(body, buf[:len(bc.event)-bc.cut]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkJSONAnswer reads a 64 KiB JSON answer through a Reader.
func BenchmarkJSONAnswer(b *testing.B) {
	body := []byte(`{"id":"chatcmpl-1","choices":[{"message":{"content":"` + string(bytes.Repeat([]byte("lorem ipsum "), 5460)) + `"}}],"usage":{"prompt_tokens":12,"completion_tokens":2000}}`)
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := usage.NewReader(io.NopCloser(bytes.NewReader(body)), usage.SurfaceChatCompletions, usage.FormatJSON)
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf); err != nil {
			b.Fatal(err)
		}
		if !r.Result().Found {
			b.Fatal("no usage")
		}
	}
}
