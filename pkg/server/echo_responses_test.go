package server_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// responseJSON is the whole echo Response for text, as the tests expect it:
// status "completed" or "incomplete", the usage, and the request's
// instructions and max_output_tokens named back (JSON values).
func responseJSON(status, text string, input, output int, instructions, maxOutput string) string {
	details := "null"
	msgStatus := "completed"
	if status == "incomplete" {
		details, msgStatus = `{"reason":"max_output_tokens"}`, "incomplete"
	}
	return `{"id":"resp_*","object":"response","created_at":1,"status":"` + status + `","error":null,` +
		`"incomplete_details":` + details + `,"instructions":` + instructions + `,"max_output_tokens":` + maxOutput + `,` +
		`"model":"m","output":[` + responseItemJSON(msgStatus, text) + `],` +
		`"parallel_tool_calls":true,"previous_response_id":null,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"truncation":"disabled",` +
		`"usage":{"input_tokens":` + strconv.Itoa(input) + `,"input_tokens_details":{"cached_tokens":0},"output_tokens":` + strconv.Itoa(output) +
		`,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":` + strconv.Itoa(input+output) + `},"metadata":{}}`
}

func responseItemJSON(status, text string) string {
	content := `[]`
	if status != "in_progress" {
		content = `[{"type":"output_text","text":` + strconv.Quote(text) + `,"annotations":[],"logprobs":[]}]`
	}
	return `{"type":"message","id":"msg_*","status":"` + status + `","role":"assistant","content":` + content + `}`
}

// TestEchoResponses pins the whole (not streamed) Responses answer: input as a
// string or as items (messages with content parts, other items skipped),
// instructions counted as input but not echoed, and a reply cut at
// max_output_tokens, which is "incomplete" as OpenAI's is.
func TestEchoResponses(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.createSession(t, "").AccessToken
	tests := []struct {
		name, body, want string
	}{
		{"string input", `{"model":"m","input":"tell me  twice"}`,
			responseJSON("completed", "tell me  twice", 3, 3, "null", "null")},
		{"items and instructions", `{"model":"m","instructions":"be brief now","input":[
			{"role":"developer","content":"no jokes"},
			{"type":"message","role":"user","content":[{"type":"input_text","text":"first"},{"type":"input_image","image_url":"data:,"}]},
			{"role":"assistant","content":[{"type":"output_text","text":"said before"}]},
			{"type":"function_call_output","call_id":"c1","output":"ignored words here"},
			{"role":"user","content":[{"type":"input_text","text":"last one"},{"type":"input_text","text":"here"}]}]}`,
			responseJSON("completed", "last one\nhere", 3+2+1+2+3, 3, `"be brief now"`, "null")},
		{"cut at max_output_tokens", `{"model":"m","max_output_tokens":2,"input":"one two three"}`,
			responseJSON("incomplete", "one two", 3, 2, "null", "2")},
		{"limit above the reply", `{"model":"m","max_output_tokens":16,"input":"one two three"}`,
			responseJSON("completed", "one two three", 3, 3, "null", "16")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ts.do(t, request{method: http.MethodPost, path: "/chat/responses", bearer: tok, body: tt.body, ctype: "application/json"})
			if res.status != http.StatusOK {
				t.Fatalf("status = %d, body %s", res.status, res.body)
			}
			wantJSON(t, "response", res.body, tt.want)
		})
	}
	res := ts.do(t, request{method: http.MethodPost, path: "/chat/responses", bearer: tok, body: `{"input":"hi"}`, ctype: "application/json"})
	if got := jsonString(t, res.body, "model"); got != "jwtgate-echo" {
		t.Errorf("model = %q, want jwtgate-echo when the request names none", got)
	}
}

// TestEchoResponsesStream pins the Responses event sequence: each a named
// event whose data has that type and the next sequence_number, the message
// item announced, one delta per word, the text and item done, and
// response.completed with the usage (response.incomplete for a cut reply).
func TestEchoResponsesStream(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.createSession(t, "").AccessToken
	front := httptest.NewServer(ts.srv)
	t.Cleanup(front.Close)

	inProgress := `{"id":"resp_*","object":"response","created_at":1,"status":"in_progress","error":null,"incomplete_details":null,"instructions":null,` +
		`"max_output_tokens":MAX,"model":"m","output":[],"parallel_tool_calls":true,"previous_response_id":null,"text":{"format":{"type":"text"}},` +
		`"tool_choice":"auto","tools":[],"truncation":"disabled","usage":null,"metadata":{}}`
	events := func(maxOutput string, words []string, final, status string, input int) []sseEvent {
		text := strings.Join(words, "")
		snapshot := strings.Replace(inProgress, "MAX", maxOutput, 1)
		var evs []sseEvent
		add := func(name, rest string) {
			evs = append(evs, sseEvent{name: name, data: `{"type":"` + name + `","sequence_number":` + strconv.Itoa(len(evs)) + rest + `}`})
		}
		part := func(text string) string {
			return `,"item_id":"msg_*","output_index":0,"content_index":0,"part":{"type":"output_text","text":` + strconv.Quote(text) + `,"annotations":[],"logprobs":[]}`
		}
		add("response.created", `,"response":`+snapshot)
		add("response.in_progress", `,"response":`+snapshot)
		add("response.output_item.added", `,"output_index":0,"item":`+responseItemJSON("in_progress", ""))
		add("response.content_part.added", part(""))
		for _, w := range words {
			add("response.output_text.delta", `,"item_id":"msg_*","output_index":0,"content_index":0,"delta":`+strconv.Quote(w)+`,"logprobs":[]`)
		}
		add("response.output_text.done", `,"item_id":"msg_*","output_index":0,"content_index":0,"text":`+strconv.Quote(text)+`,"logprobs":[]`)
		add("response.content_part.done", part(text))
		msgStatus := "completed"
		if status == "incomplete" {
			msgStatus = "incomplete"
		}
		add("response.output_item.done", `,"output_index":0,"item":`+responseItemJSON(msgStatus, text))
		add(final, `,"response":`+responseJSON(status, text, input, len(words), "null", maxOutput))
		return evs
	}
	tests := []struct {
		name string
		body string
		want []sseEvent
	}{
		{"whole", `{"model":"m","stream":true,"input":"one two\nthree"}`,
			events("null", []string{"one", " two", "\nthree"}, "response.completed", "completed", 3)},
		{"cut", `{"model":"m","stream":true,"max_output_tokens":1,"input":"one two three"}`,
			events("1", []string{"one"}, "response.incomplete", "incomplete", 3)},
		{"empty", `{"model":"m","stream":true,"input":""}`,
			events("null", nil, "response.completed", "completed", 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := postStream(t, t.Context(), front.Client(), front.URL+"/chat/responses", tok, tt.body)
			defer resp.Body.Close()
			got := readAllEvents(t, bufio.NewReader(resp.Body))
			wantEvents(t, got, tt.want)
			// One response id and one message id throughout.
			ids := map[string]bool{}
			for _, ev := range got {
				for _, key := range []string{`"id":"`, `"item_id":"`} {
					for rest := ev.data; strings.Contains(rest, key); {
						_, rest, _ = strings.Cut(rest, key)
						id, _, _ := strings.Cut(rest, `"`)
						ids[id] = true
					}
				}
			}
			if len(ids) != 2 {
				t.Errorf("ids %v, want one response id and one message id", ids)
			}
		})
	}
}

func TestEchoResponsesRefused(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.createSession(t, "").AccessToken
	tests := []struct {
		name, body, wantMessage string
	}{
		{"no input", `{"model":"m"}`, "input is required"},
		{"null input", `{"input":null}`, "input is required"},
		{"number input", `{"input":5}`, "input must be a string or an array of input items"},
		{"object input", `{"input":{"role":"user"}}`, "input must be a string or an array of input items"},
		{"no user message", `{"input":[{"role":"system","content":"x"}]}`, "input must include a user message"},
		{"empty items", `{"input":[]}`, "input must include a user message"},
		{"item not an object", `{"input":["hi"]}`, "input[0] must be an input item object"},
		{"message without role", `{"input":[{"content":"hi"}]}`, "input[0].role is required"},
		{"content number", `{"input":[{"role":"user","content":1}]}`, "input[0].content must be a string or an array of content parts"},
		{"instructions number", `{"input":"x","instructions":1}`, "instructions must be a string"},
		{"stream string", `{"input":"x","stream":"yes"}`, "stream must be a boolean"},
		{"max_output_tokens zero", `{"input":"x","max_output_tokens":0}`, "max_output_tokens must be at least 1"},
		{"max_output_tokens string", `{"input":"x","max_output_tokens":"9"}`, "max_output_tokens must be an integer"},
		{"not an object", `["x"]`, "the request body must be a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ts.do(t, request{method: http.MethodPost, path: "/chat/responses", bearer: tok, body: tt.body, ctype: "application/json"})
			if b := wantError(t, res, http.StatusBadRequest, "invalid_request"); b.Description != tt.wantMessage {
				t.Errorf("message = %q, want %q", b.Description, tt.wantMessage)
			}
		})
	}
}
