package server_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestEchoChatCompletionStreamShapes pins the streamed chat completion chunk by
// chunk: without stream_options, chunks carry no usage member; with
// include_usage, every chunk has "usage": null and a last chunk with no choices
// carries the usage before [DONE], as OpenAI sends it; a reply cut at the
// request's limit finishes with "length".
func TestEchoChatCompletionStreamShapes(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.createSession(t, "").AccessToken
	front := httptest.NewServer(ts.srv)
	t.Cleanup(front.Close)

	const msgs = `"messages":[{"role":"system","content":"answer in kind"},{"role":"user","content":"one two three"}]`
	chunk := func(delta, finish, usage string) sseEvent {
		data := `{"id":"chatcmpl-*","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":` + delta + `,"finish_reason":` + finish + `}]` + usage + `}`
		return sseEvent{data: data}
	}
	done := sseEvent{data: "[DONE]"}
	tests := []struct {
		name string
		body string
		want []sseEvent
	}{
		{"no usage", `{"model":"m","stream":true,` + msgs + `}`, []sseEvent{
			chunk(`{"role":"assistant","content":"one"}`, "null", ""),
			chunk(`{"content":" two"}`, "null", ""),
			chunk(`{"content":" three"}`, "null", ""),
			chunk(`{}`, `"stop"`, ""),
			done,
		}},
		{"include_usage false", `{"model":"m","stream":true,"stream_options":{"include_usage":false},` + msgs + `}`, []sseEvent{
			chunk(`{"role":"assistant","content":"one"}`, "null", ""),
			chunk(`{"content":" two"}`, "null", ""),
			chunk(`{"content":" three"}`, "null", ""),
			chunk(`{}`, `"stop"`, ""),
			done,
		}},
		{"include_usage", `{"model":"m","stream":true,"stream_options":{"include_usage":true},` + msgs + `}`, []sseEvent{
			chunk(`{"role":"assistant","content":"one"}`, "null", `,"usage":null`),
			chunk(`{"content":" two"}`, "null", `,"usage":null`),
			chunk(`{"content":" three"}`, "null", `,"usage":null`),
			chunk(`{}`, `"stop"`, `,"usage":null`),
			{data: `{"id":"chatcmpl-*","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":6,"completion_tokens":3,"total_tokens":9}}`},
			done,
		}},
		{"cut at max_completion_tokens", `{"model":"m","stream":true,"max_tokens":3,"max_completion_tokens":2,"stream_options":{"include_usage":true},` + msgs + `}`, []sseEvent{
			chunk(`{"role":"assistant","content":"one"}`, "null", `,"usage":null`),
			chunk(`{"content":" two"}`, "null", `,"usage":null`),
			chunk(`{}`, `"length"`, `,"usage":null`),
			{data: `{"id":"chatcmpl-*","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":6,"completion_tokens":2,"total_tokens":8}}`},
			done,
		}},
		{"empty reply", `{"model":"m","stream":true,"messages":[{"role":"user","content":""}]}`, []sseEvent{
			chunk(`{"role":"assistant","content":""}`, "null", ""),
			chunk(`{}`, `"stop"`, ""),
			done,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := postStream(t, t.Context(), front.Client(), front.URL+"/chat/chat/completions", tok, tt.body)
			defer resp.Body.Close()
			got := readAllEvents(t, bufio.NewReader(resp.Body))
			wantEvents(t, got, tt.want)
			ids := map[string]bool{}
			for _, ev := range got[:len(got)-1] {
				ids[jsonString(t, ev.data, "id")] = true
			}
			if len(ids) != 1 {
				t.Errorf("chunk ids %v, want one id throughout", ids)
			}
		})
	}
}

// TestEchoChatCompletionShape pins the whole chat completion, and that a reply
// cut at the limit (max_completion_tokens before the older max_tokens) finishes
// with "length" and counts the words sent.
func TestEchoChatCompletionShape(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.createSession(t, "").AccessToken
	tests := []struct {
		name, body, want string
	}{
		{"whole", chatBody,
			`{"id":"chatcmpl-*","object":"chat.completion","created":1,"model":"gpt-test","choices":[{"index":0,"message":{"role":"assistant","content":"hello  echo\nworld"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`},
		{"max_tokens", `{"max_tokens":2,"messages":[{"role":"user","content":" one\ttwo three "}]}`,
			`{"id":"chatcmpl-*","object":"chat.completion","created":1,"model":"jwtgate-echo","choices":[{"index":0,"message":{"role":"assistant","content":" one\ttwo"},"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`},
		{"max_completion_tokens first", `{"max_tokens":1,"max_completion_tokens":5,"messages":[{"role":"user","content":"one two three"}]}`,
			`{"id":"chatcmpl-*","object":"chat.completion","created":1,"model":"jwtgate-echo","choices":[{"index":0,"message":{"role":"assistant","content":"one two three"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":3,"total_tokens":6}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ts.do(t, request{method: http.MethodPost, path: "/chat/chat/completions", bearer: tok, body: tt.body, ctype: "application/json"})
			if res.status != http.StatusOK {
				t.Fatalf("status = %d, body %s", res.status, res.body)
			}
			wantJSON(t, "completion", res.body, tt.want)
		})
	}
}
