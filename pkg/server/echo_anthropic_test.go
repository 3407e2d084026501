package server_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// TestEchoMessages pins the whole (not streamed) Anthropic Messages answer:
// string or block content, the system prompt (string or blocks) counted as
// input, and a reply cut at max_tokens stopping with "max_tokens".
func TestEchoMessages(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.createSession(t, "").AccessToken
	message := func(text, stop string, input, output int) string {
		return `{"id":"msg_*","type":"message","role":"assistant","model":"claude-test","content":[{"type":"text","text":` + strconv.Quote(text) + `}],` +
			`"stop_reason":"` + stop + `","stop_sequence":null,"usage":{"input_tokens":` + strconv.Itoa(input) + `,"output_tokens":` + strconv.Itoa(output) + `}}`
	}
	tests := []struct {
		name, body, want string
	}{
		{"string content", `{"model":"claude-test","max_tokens":1024,"messages":[{"role":"user","content":"hello there  you"}]}`,
			message("hello there  you", "end_turn", 3, 3)},
		{"system and blocks", `{"model":"claude-test","max_tokens":1024,"system":"be kind","messages":[
			{"role":"user","content":"first try"},
			{"role":"assistant","content":[{"type":"text","text":"an answer"},{"type":"tool_use","id":"t1","name":"x","input":{}}]},
			{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":""}},{"type":"text","text":"second"},{"type":"text","text":"try"}]}]}`,
			message("second\ntry", "end_turn", 2+2+2+2, 2)},
		{"system blocks", `{"model":"claude-test","max_tokens":1024,"system":[{"type":"text","text":"one two","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"x"}]}`,
			message("x", "end_turn", 3, 1)},
		{"cut at max_tokens", `{"model":"claude-test","max_tokens":2,"messages":[{"role":"user","content":"one two three"}]}`,
			message("one two", "max_tokens", 3, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ts.do(t, request{method: http.MethodPost, path: "/chat/v1/messages", bearer: tok, body: tt.body, ctype: "application/json"})
			if res.status != http.StatusOK {
				t.Fatalf("status = %d, body %s", res.status, res.body)
			}
			wantJSON(t, "message", res.body, tt.want)
		})
	}
}

// TestEchoMessagesStream pins the Messages event sequence, event by event.
func TestEchoMessagesStream(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.createSession(t, "").AccessToken
	front := httptest.NewServer(ts.srv)
	t.Cleanup(front.Close)

	events := func(words []string, stop string, input int) []sseEvent {
		evs := []sseEvent{
			{"message_start", `{"type":"message_start","message":{"id":"msg_*","type":"message","role":"assistant","model":"claude-test","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":` + strconv.Itoa(input) + `,"output_tokens":0}}}`},
			{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
			{"ping", `{"type":"ping"}`},
		}
		for _, w := range words {
			evs = append(evs, sseEvent{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":` + strconv.Quote(w) + `}}`})
		}
		return append(evs,
			sseEvent{"content_block_stop", `{"type":"content_block_stop","index":0}`},
			sseEvent{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"` + stop + `","stop_sequence":null},"usage":{"output_tokens":` + strconv.Itoa(len(words)) + `}}`},
			sseEvent{"message_stop", `{"type":"message_stop"}`},
		)
	}
	tests := []struct {
		name string
		body string
		want []sseEvent
	}{
		{"whole", `{"model":"claude-test","max_tokens":64,"stream":true,"system":"terse","messages":[{"role":"user","content":"one two  three"}]}`,
			events([]string{"one", " two", "  three"}, "end_turn", 4)},
		{"cut", `{"model":"claude-test","max_tokens":2,"stream":true,"messages":[{"role":"user","content":"one two three"}]}`,
			events([]string{"one", " two"}, "max_tokens", 3)},
		{"empty", `{"model":"claude-test","max_tokens":2,"stream":true,"messages":[{"role":"user","content":[]}]}`,
			events(nil, "end_turn", 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := postStream(t, t.Context(), front.Client(), front.URL+"/chat/v1/messages", tok, tt.body)
			defer resp.Body.Close()
			wantEvents(t, readAllEvents(t, bufio.NewReader(resp.Body)), tt.want)
		})
	}
}

func TestEchoMessagesRefused(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.createSession(t, "").AccessToken
	const user = `"messages":[{"role":"user","content":"x"}]`
	tests := []struct {
		name, body, wantMessage string
	}{
		{"no max_tokens", `{"model":"c",` + user + `}`, "max_tokens is required"},
		{"null max_tokens", `{"max_tokens":null,` + user + `}`, "max_tokens is required"},
		{"max_tokens zero", `{"max_tokens":0,` + user + `}`, "max_tokens must be at least 1"},
		{"max_tokens string", `{"max_tokens":"1",` + user + `}`, "max_tokens must be an integer"},
		{"no messages", `{"max_tokens":1}`, "messages must not be empty"},
		{"messages object", `{"max_tokens":1,"messages":{}}`, "messages must be an array of messages"},
		{"system role", `{"max_tokens":1,"messages":[{"role":"system","content":"x"},{"role":"user","content":"y"}]}`, `messages[0].role must be "user" or "assistant"`},
		{"no user message", `{"max_tokens":1,"messages":[{"role":"assistant","content":"x"}]}`, "messages must include a user message"},
		{"no content", `{"max_tokens":1,"messages":[{"role":"user"}]}`, "messages[0].content is required"},
		{"content number", `{"max_tokens":1,"messages":[{"role":"user","content":2}]}`, "messages[0].content must be a string or an array of content blocks"},
		{"system object", `{"max_tokens":1,"system":{"text":"x"},` + user + `}`, "system must be a string or an array of text blocks"},
		{"stream string", `{"max_tokens":1,"stream":"yes",` + user + `}`, "stream must be a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ts.do(t, request{method: http.MethodPost, path: "/chat/v1/messages", bearer: tok, body: tt.body, ctype: "application/json"})
			if b := wantError(t, res, http.StatusBadRequest, "invalid_request"); b.Description != tt.wantMessage {
				t.Errorf("message = %q, want %q", b.Description, tt.wantMessage)
			}
		})
	}
}
