package usage_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/jwtgate/jwtgate/pkg/usage"
)

func TestSurfaceOf(t *testing.T) {
	tests := []struct {
		path string
		want usage.Surface
	}{
		{"/v1/chat/completions", usage.SurfaceChatCompletions},
		{"/chat/completions/", usage.SurfaceChatCompletions},
		{"/openai/deployments/gpt-4o/chat/completions", usage.SurfaceChatCompletions},
		{"/v1/responses", usage.SurfaceResponses},
		{"/v1/messages", usage.SurfaceMessages},
		{"/v1/messages/batches", usage.SurfaceUnknown},
		{"/v1/responses/resp_123", usage.SurfaceUnknown},
		{"/v1/completions", usage.SurfaceUnknown},
		{"/v1/models", usage.SurfaceUnknown},
		{"", usage.SurfaceUnknown},
	}
	for _, tt := range tests {
		if got := usage.SurfaceOf(tt.path); got != tt.want {
			t.Errorf("SurfaceOf(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestFormatOf(t *testing.T) {
	tests := []struct {
		ct, ce string
		want   usage.Format
	}{
		{"application/json", "", usage.FormatJSON},
		{"application/json; charset=utf-8", "identity", usage.FormatJSON},
		{"application/problem+json", "", usage.FormatJSON},
		{"text/event-stream", "", usage.FormatEventStream},
		{"text/event-stream; charset=utf-8", "", usage.FormatEventStream},
		{"application/json", "gzip", usage.FormatOther},
		{"text/event-stream", "br", usage.FormatOther},
		{"text/html", "", usage.FormatOther},
		{"", "", usage.FormatOther},
		{"application/json;;", "", usage.FormatOther},
	}
	for _, tt := range tests {
		if got := usage.FormatOf(tt.ct, tt.ce); got != tt.want {
			t.Errorf("FormatOf(%q, %q) = %v, want %v", tt.ct, tt.ce, got, tt.want)
		}
	}
}

// TestReaderFixtures reads each recorded answer whole, a byte at a time and cut
// in two at every position: the bytes come out unchanged and the usage is the
// one the answer reports.
func TestReaderFixtures(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		surface usage.Surface
		format  usage.Format
		want    usage.Result
	}{
		{"chat JSON", "chat_completion.json", usage.SurfaceChatCompletions, usage.FormatJSON,
			usage.Result{Usage: usage.Usage{InputTokens: 31, OutputTokens: 17}, Found: true}},
		{"chat stream with usage", "chat_stream_usage.sse", usage.SurfaceChatCompletions, usage.FormatEventStream,
			usage.Result{Usage: usage.Usage{InputTokens: 23, OutputTokens: 21}, Found: true, Events: 9}},
		{"chat stream without usage", "chat_stream.sse", usage.SurfaceChatCompletions, usage.FormatEventStream,
			usage.Result{Events: 8}},
		{"chat stream, Azure filter chunk", "chat_stream_azure_usage.sse", usage.SurfaceChatCompletions, usage.FormatEventStream,
			usage.Result{Usage: usage.Usage{InputTokens: 23, OutputTokens: 21}, Found: true, Events: 10}},
		{"responses JSON", "responses.json", usage.SurfaceResponses, usage.FormatJSON,
			usage.Result{Usage: usage.Usage{InputTokens: 36, OutputTokens: 87}, Found: true}},
		{"responses stream", "responses_stream.sse", usage.SurfaceResponses, usage.FormatEventStream,
			usage.Result{Usage: usage.Usage{InputTokens: 37, OutputTokens: 11}, Found: true, Events: 12}},
		{"responses stream cut before response.completed", "responses_stream_cut.sse", usage.SurfaceResponses, usage.FormatEventStream,
			usage.Result{Events: 11}},
		{"messages JSON, cache write counted as input", "messages.json", usage.SurfaceMessages, usage.FormatJSON,
			usage.Result{Usage: usage.Usage{InputTokens: 2095 + 2048, OutputTokens: 503}, Found: true}},
		{"messages stream, cache read counted as input", "messages_stream.sse", usage.SurfaceMessages, usage.FormatEventStream,
			usage.Result{Usage: usage.Usage{InputTokens: 472 + 1536, OutputTokens: 87}, Found: true, Events: 13}},
		{"messages stream cut after message_start", "messages_stream_cut.sse", usage.SurfaceMessages, usage.FormatEventStream,
			usage.Result{Usage: usage.Usage{InputTokens: 472 + 1536, OutputTokens: 2}, Found: true, Events: 3}},
		{"unknown surface passes through", "chat_completion.json", usage.SurfaceUnknown, usage.FormatJSON,
			usage.Result{}},
		{"other format passes through", "chat_stream_usage.sse", usage.SurfaceChatCompletions, usage.FormatOther,
			usage.Result{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, eol := range []string{"LF", "CRLF"} {
				data := mustRead(t, tt.file)
				if eol == "CRLF" {
					if tt.format != usage.FormatEventStream {
						continue
					}
					data = crlf(data)
				}
				readings(t, data, tt.surface, tt.format, nil, func(t *testing.T, how string, out []byte, res usage.Result) {
					if !bytes.Equal(out, data) {
						t.Errorf("%s, %s: the bytes changed on the way through", eol, how)
					}
					if diff := cmp.Diff(tt.want, res); diff != "" {
						t.Errorf("%s, %s: result (-want +got):\n%s", eol, how, diff)
					}
				})
			}
		})
	}
}

// TestStripUsageChunk: a stream with the usage jwtgate asked for comes out as
// the upstream sends it to a client that did not ask, byte for byte, and its
// usage is counted.
func TestStripUsageChunk(t *testing.T) {
	tests := []struct {
		name       string
		in, want   string
		usage      usage.Usage
		found      bool
		stripped   bool
		wantEvents int
	}{
		{"usage chunk and usage:null removed", "chat_stream_usage.sse", "chat_stream.sse",
			usage.Usage{InputTokens: 23, OutputTokens: 21}, true, true, 9},
		{"Azure's empty-choices filter chunk kept", "chat_stream_azure_usage.sse", "chat_stream_azure.sse",
			usage.Usage{InputTokens: 23, OutputTokens: 21}, true, true, 10},
		{"stream without usage unchanged", "chat_stream.sse", "chat_stream.sse",
			usage.Usage{}, false, false, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, eol := range []string{"LF", "CRLF"} {
				in, want := mustRead(t, tt.in), mustRead(t, tt.want)
				if eol == "CRLF" {
					in, want = crlf(in), crlf(want)
				}
				opts := []usage.ReaderOption{usage.StripUsageChunk()}
				readings(t, in, usage.SurfaceChatCompletions, usage.FormatEventStream, opts, func(t *testing.T, how string, out []byte, res usage.Result) {
					if !bytes.Equal(out, want) {
						t.Errorf("%s, %s: stripped stream differs from %s:\n%s", eol, how, tt.want, cmp.Diff(string(want), string(out)))
					}
					wantRes := usage.Result{Usage: tt.usage, Found: tt.found, Stripped: tt.stripped, Events: tt.wantEvents}
					if diff := cmp.Diff(wantRes, res); diff != "" {
						t.Errorf("%s, %s: result (-want +got):\n%s", eol, how, diff)
					}
				})
			}
		})
	}
}

// TestStripOnlyChatStreams: the option changes nothing on other surfaces or a
// JSON answer.
func TestStripOnlyChatStreams(t *testing.T) {
	for _, tt := range []struct {
		file string
		s    usage.Surface
		f    usage.Format
	}{
		{"responses_stream.sse", usage.SurfaceResponses, usage.FormatEventStream},
		{"messages_stream.sse", usage.SurfaceMessages, usage.FormatEventStream},
		{"chat_completion.json", usage.SurfaceChatCompletions, usage.FormatJSON},
	} {
		data := mustRead(t, tt.file)
		out, res := readThrough(t, io.NopCloser(bytes.NewReader(data)), tt.s, tt.f, usage.StripUsageChunk())
		if !bytes.Equal(out, data) || !res.Found || res.Stripped {
			t.Errorf("%s: changed=%v found=%v stripped=%v", tt.file, !bytes.Equal(out, data), res.Found, res.Stripped)
		}
	}
}

// TestStripEdgeCases: streams shaped unlike OpenAI's are never damaged.
func TestStripEdgeCases(t *testing.T) {
	tests := []struct {
		name, in, want string
		stripped       bool
	}{
		{"usage chunk with choices not empty is kept",
			"data: {\"choices\":[{\"index\":0}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n",
			"data: {\"choices\":[{\"index\":0}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n", false},
		{"empty choices without usage is kept",
			"data: {\"choices\":[],\"x\":1}\n\n", "data: {\"choices\":[],\"x\":1}\n\n", false},
		{"usage first is left alone",
			"data: {\"usage\":null,\"choices\":[{}]}\n\n", "data: {\"usage\":null,\"choices\":[{}]}\n\n", false},
		{"nested usage:null is left alone",
			"data: {\"choices\":[{\"usage\":null}],\"a\":{\"b\":1,\"usage\":null}}\n\n",
			"data: {\"choices\":[{\"usage\":null}],\"a\":{\"b\":1,\"usage\":null}}\n\n", false},
		{"spaces around usage:null",
			"data: {\"choices\":[{}] , \"usage\" : null }\n\n", "data: {\"choices\":[{}]  }\n\n", false},
		{"usage not null kept",
			"data: {\"choices\":[{}],\"usage\":nul}\n\n", "data: {\"choices\":[{}],\"usage\":nul}\n\n", false},
		{"comments and other fields kept, usage chunk gone",
			": keep-alive\n\nid: 7\ndata: {\"choices\":[{}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":5}}\n\ndata: [DONE]\n\n",
			": keep-alive\n\nid: 7\ndata: {\"choices\":[{}]}\n\ndata: [DONE]\n\n", true},
		{"CR line ends",
			"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":5}}\r\rdata: [DONE]\r\r",
			"data: [DONE]\r\r", true},
		{"usage chunk without its blank line at the end passes",
			"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":5}}",
			"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":5}}", false},
		{"event too long to hold passes whole",
			"data: {\"choices\":[],\"pad\":\"" + strings.Repeat("x", 5000) + "\",\"usage\":{\"prompt_tokens\":4}}\n\n",
			"data: {\"choices\":[],\"pad\":\"" + strings.Repeat("x", 5000) + "\",\"usage\":{\"prompt_tokens\":4}}\n\n", false},
		{"garbage passes",
			"data: {\"choices\":[]]\n\ndata: \x00\xff\n\n", "data: {\"choices\":[]]\n\ndata: \x00\xff\n\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []usage.ReaderOption{usage.StripUsageChunk()}
			readings(t, []byte(tt.in), usage.SurfaceChatCompletions, usage.FormatEventStream, opts, func(t *testing.T, how string, out []byte, res usage.Result) {
				if string(out) != tt.want {
					t.Errorf("%s: got %q, want %q", how, out, tt.want)
				}
				if res.Stripped != tt.stripped {
					t.Errorf("%s: Stripped = %v, want %v", how, res.Stripped, tt.stripped)
				}
			})
		})
	}
}

// TestReaderGarbage: what is not JSON is counted and passed on; usage around it
// still counts.
func TestReaderGarbage(t *testing.T) {
	deep := strings.Repeat("[", 200) + strings.Repeat("]", 200)
	tests := []struct {
		name    string
		surface usage.Surface
		format  usage.Format
		in      string
		want    usage.Result
	}{
		{"event data not JSON", usage.SurfaceChatCompletions, usage.FormatEventStream,
			"data: hello\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n",
			usage.Result{Usage: usage.Usage{InputTokens: 3, OutputTokens: 4}, Found: true, Malformed: 1, Events: 3}},
		{"unbalanced", usage.SurfaceResponses, usage.FormatEventStream,
			"event: response.completed\ndata: {\"response\":{\"usage\":{\"input_tokens\":3]}}\n\n",
			usage.Result{Malformed: 1, Events: 1}},
		{"usage not an integer", usage.SurfaceResponses, usage.FormatEventStream,
			"data: {\"response\":{\"usage\":{\"input_tokens\":3.5,\"output_tokens\":\"7\"}}}\n\n",
			usage.Result{Malformed: 1, Events: 1}},
		{"negative usage", usage.SurfaceMessages, usage.FormatJSON,
			"{\"usage\":{\"input_tokens\":-3,\"output_tokens\":7}}",
			usage.Result{Usage: usage.Usage{OutputTokens: 7}, Found: true, Malformed: 1}},
		{"usage true", usage.SurfaceMessages, usage.FormatJSON,
			"{\"usage\":{\"input_tokens\":true}}", usage.Result{Malformed: 1}},
		{"usage null is no usage", usage.SurfaceChatCompletions, usage.FormatJSON,
			"{\"usage\":{\"prompt_tokens\":null}}", usage.Result{}},
		{"huge number", usage.SurfaceChatCompletions, usage.FormatJSON,
			"{\"usage\":{\"prompt_tokens\":99999999999999999999999,\"completion_tokens\":2}}",
			usage.Result{Usage: usage.Usage{OutputTokens: 2}, Found: true, Malformed: 1}},
		{"nesting too deep", usage.SurfaceChatCompletions, usage.FormatEventStream,
			"data: " + deep + "\n\n", usage.Result{Malformed: 1, Events: 1}},
		{"nesting deep but allowed", usage.SurfaceChatCompletions, usage.FormatJSON,
			"{\"a\":" + strings.Repeat("[", 100) + strings.Repeat("]", 100) + ",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}",
			usage.Result{Usage: usage.Usage{InputTokens: 1, OutputTokens: 1}, Found: true}},
		{"HTML error page", usage.SurfaceChatCompletions, usage.FormatJSON,
			"<html><body>502 Bad Gateway</body></html>", usage.Result{Malformed: 1}},
		{"JSON cut short after its usage", usage.SurfaceChatCompletions, usage.FormatJSON,
			"{\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":9},\"choices\":[{\"mess",
			usage.Result{Usage: usage.Usage{InputTokens: 8, OutputTokens: 9}, Found: true, Malformed: 1}},
		{"JSON with data after it", usage.SurfaceChatCompletions, usage.FormatJSON,
			"{\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":9}} {}",
			usage.Result{Usage: usage.Usage{InputTokens: 8, OutputTokens: 9}, Found: true, Malformed: 1}},
		{"error answer has no usage", usage.SurfaceChatCompletions, usage.FormatJSON,
			"{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}",
			usage.Result{}},
		{"escaped member name matches nothing", usage.SurfaceChatCompletions, usage.FormatJSON,
			"{\"us\\u0061ge\":{\"prompt_tokens\":8}}", usage.Result{}},
		{"long member names", usage.SurfaceChatCompletions, usage.FormatJSON,
			"{\"" + strings.Repeat("k", 100) + "\":{\"prompt_tokens\":8},\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":0}}",
			usage.Result{Usage: usage.Usage{InputTokens: 1}, Found: true}},
		{"literals checked", usage.SurfaceChatCompletions, usage.FormatEventStream,
			"data: {\"a\":nope}\n\ndata: {\"a\":true,\"b\":false,\"c\":null}\n\n",
			usage.Result{Malformed: 1, Events: 2}},
		{"binary", usage.SurfaceMessages, usage.FormatEventStream,
			"\x00\xff\xfe\n\ndata:\x00\n\n", usage.Result{Malformed: 1, Events: 1}},
		{"two data lines make one value", usage.SurfaceChatCompletions, usage.FormatEventStream,
			"data: {\"choices\":[],\ndata: \"usage\":{\"prompt_tokens\":5,\r\ndata:\"completion_tokens\":6}}\n\n",
			usage.Result{Usage: usage.Usage{InputTokens: 5, OutputTokens: 6}, Found: true, Events: 1}},
		{"a number cut by a data line is two", usage.SurfaceChatCompletions, usage.FormatEventStream,
			"data: {\"usage\":{\"prompt_tokens\":5\ndata:6}}\n\n", usage.Result{Malformed: 1, Events: 1}},
		{"data field without colon", usage.SurfaceChatCompletions, usage.FormatEventStream,
			"data\n\n", usage.Result{Malformed: 1, Events: 1}},
		{"long field names are not data", usage.SurfaceChatCompletions, usage.FormatEventStream,
			"database: {\n\ndat: x\n\n", usage.Result{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.in)
			for _, strip := range []bool{false, true} {
				var opts []usage.ReaderOption
				if strip {
					opts = append(opts, usage.StripUsageChunk())
				}
				readings(t, data, tt.surface, tt.format, opts, func(t *testing.T, how string, out []byte, res usage.Result) {
					if !strip && !bytes.Equal(out, data) {
						t.Errorf("%s: the bytes changed on the way through", how)
					}
					res.Stripped = false
					if diff := cmp.Diff(tt.want, res); diff != "" {
						t.Errorf("strip=%v %s: result (-want +got):\n%s", strip, how, diff)
					}
				})
			}
		})
	}
}

// TestReaderLargeAnswer: a JSON answer of many megabytes is read with no
// allocation while it passes.
func TestReaderLargeAnswer(t *testing.T) {
	content := strings.Repeat("lorem ipsum \\\"dolor\\\" ", 400_000) // 8.8 MB
	body := []byte(`{"id":"chatcmpl-1","choices":[{"message":{"content":"` + content + `"}}],"usage":{"prompt_tokens":12,"completion_tokens":2000000}}`)
	r := usage.NewReader(&pieces{parts: [][]byte{body}}, usage.SurfaceChatCompletions, usage.FormatJSON)
	buf := make([]byte, 32<<10)
	reads := len(body)/len(buf) - 1 // AllocsPerRun reads once more before counting
	allocs := testing.AllocsPerRun(reads, func() {
		if _, err := r.Read(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("reading a %d-byte answer allocated %v times per read", len(body), allocs)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	want := usage.Result{Usage: usage.Usage{InputTokens: 12, OutputTokens: 2000000}, Found: true}
	if diff := cmp.Diff(want, r.Result()); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
}

// loop is a body that serves the same event forever.
type loop struct {
	event []byte
	off   int
}

func (l *loop) Read(p []byte) (int, error) {
	n := copy(p, l.event[l.off:])
	l.off = (l.off + n) % len(l.event)
	return n, nil
}

func (l *loop) Close() error { return nil }

// TestReaderNoAllocationPerEvent: once a Reader exists, streamed events cost no
// allocation, with and without stripping.
func TestReaderNoAllocationPerEvent(t *testing.T) {
	chunk := []byte(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1751620473,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" word"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	usageChunk := []byte(`data: {"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12}}` + "\n\n")
	tests := []struct {
		name    string
		surface usage.Surface
		event   []byte
		strip   bool
	}{
		{"chat", usage.SurfaceChatCompletions, chunk, false},
		{"chat stripping", usage.SurfaceChatCompletions, chunk, true},
		// Every other event is stripped whole (a stream of nothing but usage
		// chunks would never give a Read anything to return).
		{"chat stripping the usage chunk", usage.SurfaceChatCompletions, append(chunk[:len(chunk):len(chunk)], usageChunk...), true},
		{"responses", usage.SurfaceResponses, []byte(`event: response.output_text.delta` + "\n" +
			`data: {"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi","logprobs":[]}` + "\n\n"), false},
		{"messages", usage.SurfaceMessages, []byte(`event: message_delta` + "\n" +
			`data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}` + "\n\n"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []usage.ReaderOption
			if tt.strip {
				opts = append(opts, usage.StripUsageChunk())
			}
			src := &loop{event: tt.event}
			r := usage.NewReader(src, tt.surface, usage.FormatEventStream, opts...)
			buf := make([]byte, len(tt.event))
			read := func() {
				for range 10 {
					if _, err := r.Read(buf); err != nil {
						t.Fatal(err)
					}
				}
			}
			read() // the stripping buffers are allocated at the first Read
			if allocs := testing.AllocsPerRun(100, read); allocs != 0 {
				t.Errorf("%v allocations per 10 events, want 0", allocs)
			}
			if res := r.Result(); res.Events < 1000 || res.Malformed != 0 {
				t.Errorf("result %+v: want over 1000 events, none malformed", res)
			}
		})
	}
}

// TestReaderErrors: an error from the body reaches the caller after every byte
// before it, held bytes included, and what was read still counts.
func TestReaderErrors(t *testing.T) {
	errCut := errors.New("connection reset")
	data := "data: {\"choices\":[{}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\ndata: {\"choi"
	for _, strip := range []bool{false, true} {
		var opts []usage.ReaderOption
		want := data
		if strip {
			opts = append(opts, usage.StripUsageChunk())
			want = "data: {\"choices\":[{}]}\n\ndata: {\"choi"
		}
		r := usage.NewReader(&pieces{parts: [][]byte{[]byte(data)}, err: errCut}, usage.SurfaceChatCompletions, usage.FormatEventStream, opts...)
		out, err := io.ReadAll(r)
		if !errors.Is(err, errCut) {
			t.Errorf("strip=%v: error %v, want %v", strip, err, errCut)
		}
		if string(out) != want {
			t.Errorf("strip=%v: got %q, want %q", strip, out, want)
		}
		if res := r.Result(); !res.Found || res.Usage.Total() != 7 {
			t.Errorf("strip=%v: result %+v, want the usage read before the error", strip, res)
		}
		if _, err := r.Read(make([]byte, 8)); !errors.Is(err, errCut) {
			t.Errorf("strip=%v: a second Read returned %v, want the error again", strip, err)
		}
	}
}

func TestUsageTotal(t *testing.T) {
	if got := (usage.Usage{InputTokens: 3, OutputTokens: 4}).Total(); got != 7 {
		t.Errorf("Total = %d, want 7", got)
	}
}

// TestBufferPool: Readers sharing a pool strip as well as Readers without
// one, one after the other reusing the buffers, and a closed Reader reads
// nothing.
func TestBufferPool(t *testing.T) {
	stream := `data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null}` + "\n\n" +
		`data: {"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}` + "\n\n" +
		"data: [DONE]\n\n"
	want := `data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}]}` + "\n\n" + "data: [DONE]\n\n"
	bp := usage.NewBufferPool()
	for i := range 3 {
		r := usage.NewReader(io.NopCloser(strings.NewReader(stream)), usage.SurfaceChatCompletions, usage.FormatEventStream,
			usage.StripUsageChunk(), usage.WithBufferPool(bp))
		got, err := io.ReadAll(r)
		if err != nil || string(got) != want {
			t.Fatalf("round %d: %q, %v; want %q", i, got, err, want)
		}
		if res := r.Result(); !res.Found || res.Usage.Total() != 5 || !res.Stripped {
			t.Errorf("round %d: result %+v", i, res)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if n, err := r.Read(make([]byte, 8)); n != 0 || err == nil {
			t.Errorf("round %d: Read after Close = %d, %v; want 0 and an error", i, n, err)
		}
	}
}
