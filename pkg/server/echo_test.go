package server_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type completion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

type chunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
}

const chatBody = `{"model":"gpt-test","temperature":0.2,"messages":[
	{"role":"system","content":"be brief"},
	{"role":"user","content":"first question"},
	{"role":"assistant","content":null},
	{"role":"user","content":"hello  echo\nworld"}]}`

func TestEcho(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.createSession(t, "").AccessToken
	tests := []struct {
		name, path, body, wantModel, wantText string
		wantPrompt                            int // words of every message
	}{
		{"string content", "/chat/chat/completions", chatBody, "gpt-test", "hello  echo\nworld", 7},
		{"alias", "/chat/completions", chatBody, "gpt-test", "hello  echo\nworld", 7},
		{"default model", "/chat/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`, "jwtgate-echo", "hi", 1},
		{"content parts", "/chat/chat/completions", `{"messages":[{"role":"user","content":[{"type":"text","text":"a b"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"c"}]}]}`, "jwtgate-echo", "a b\nc", 3},
		{"stream false", "/chat/chat/completions", `{"stream":false,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`, "jwtgate-echo", "x", 1},
		{"a limit above the reply", "/chat/chat/completions", `{"max_tokens":3,"messages":[{"role":"user","content":"x y z"}]}`, "jwtgate-echo", "x y z", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ts.do(t, request{method: http.MethodPost, path: tt.path, bearer: tok, body: tt.body, ctype: "application/json"})
			if res.status != http.StatusOK {
				t.Fatalf("status = %d, want 200 (body %s)", res.status, res.body)
			}
			got := decodeJSON[completion](t, res.body)
			if !strings.HasPrefix(got.ID, "chatcmpl-") || len(got.ID) <= len("chatcmpl-") {
				t.Errorf("id = %q", got.ID)
			}
			if got.Object != "chat.completion" || got.Model != tt.wantModel || got.Created == 0 {
				t.Errorf("object %q model %q created %d", got.Object, got.Model, got.Created)
			}
			if len(got.Choices) != 1 {
				t.Fatalf("%d choices, want 1", len(got.Choices))
			}
			c := got.Choices[0]
			if c.Index != 0 || c.Message.Role != "assistant" || c.Message.Content != tt.wantText || c.FinishReason != "stop" {
				t.Errorf("choice = %+v, want the assistant echoing %q", c, tt.wantText)
			}
			want := len(strings.Fields(tt.wantText))
			if u := got.Usage; u.PromptTokens != tt.wantPrompt || u.CompletionTokens != want || u.TotalTokens != tt.wantPrompt+want {
				t.Errorf("usage = %+v, want %d prompt and %d completion tokens", u, tt.wantPrompt, want)
			}
			if strings.Contains(res.body, testAPIKey) {
				t.Error("reply carries the API key")
			}
		})
	}
}

func TestEchoStream(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.createSession(t, "").AccessToken
	front := httptest.NewServer(ts.srv)
	t.Cleanup(front.Close)

	body := strings.Replace(chatBody, `"model"`, `"stream":true,"model"`, 1)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, front.URL+"/chat/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control = %q", cc)
	}

	events := readEvents(t, bufio.NewReader(resp.Body))
	if len(events) < 4 || events[len(events)-1] != "[DONE]" {
		t.Fatalf("events = %q, want several chunks and [DONE]", events)
	}
	var text strings.Builder
	var id string
	for i, ev := range events[:len(events)-1] {
		var c chunk
		if err := json.Unmarshal([]byte(ev), &c); err != nil {
			t.Fatalf("event %d %q: %v", i, ev, err)
		}
		if c.Object != "chat.completion.chunk" || c.Model != "gpt-test" || len(c.Choices) != 1 {
			t.Fatalf("event %d = %s", i, ev)
		}
		if id == "" {
			id = c.ID
		} else if c.ID != id {
			t.Errorf("event %d id %q, want %q throughout", i, c.ID, id)
		}
		ch := c.Choices[0]
		last := i == len(events)-2
		if (i == 0) != (ch.Delta.Role == "assistant") {
			t.Errorf("event %d role %q: only the first names the role", i, ch.Delta.Role)
		}
		if last {
			if ch.FinishReason == nil || *ch.FinishReason != "stop" || ch.Delta.Content != nil {
				t.Errorf("last chunk = %s, want an empty delta and finish_reason stop", ev)
			}
			continue
		}
		if ch.FinishReason != nil || ch.Delta.Content == nil {
			t.Errorf("chunk %d = %s, want content and a null finish_reason", i, ev)
			continue
		}
		text.WriteString(*ch.Delta.Content)
	}
	if got := text.String(); got != "hello  echo\nworld" {
		t.Errorf("streamed text = %q", got)
	}
	if n := len(events) - 2; n != 3 {
		t.Errorf("%d content chunks, want one per word (3)", n)
	}
}

// readEvents reads "data:" events until the stream ends.
func readEvents(t *testing.T, r *bufio.Reader) []string {
	t.Helper()
	var events []string
	for {
		line, err := r.ReadString('\n')
		if line == "" && err != nil {
			return events
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "data: "):
			events = append(events, strings.TrimPrefix(line, "data: "))
		case line == "":
		default:
			t.Fatalf("unexpected line %q in event stream", line)
		}
	}
}

func TestEchoRefused(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.createSession(t, "").AccessToken
	const json = "application/json"
	tests := []struct {
		name       string
		req        request
		wantStatus int
		wantCode   string
	}{
		{"no token", request{method: "POST", path: "/chat/completions", body: chatBody, ctype: json}, 401, "invalid_token"},
		{"other path", request{method: "POST", path: "/chat/embeddings", bearer: tok, body: chatBody, ctype: json}, 404, "invalid_request"},
		{"other method", request{method: "GET", path: "/chat/completions", bearer: tok}, 405, "invalid_request"},
		{"no body", request{method: "POST", path: "/chat/completions", bearer: tok}, 400, "invalid_request"},
		{"not JSON", request{method: "POST", path: "/chat/completions", bearer: tok, body: "hello", ctype: json}, 400, "invalid_request"},
		{"text/plain", request{method: "POST", path: "/chat/completions", bearer: tok, body: chatBody, ctype: "text/plain"}, 415, "invalid_request"},
		{"too large", request{method: "POST", path: "/chat/completions", bearer: tok, body: `{"messages":[{"role":"user","content":"` + strings.Repeat("a", 5000) + `"}]}`, ctype: json}, 413, "invalid_request"},
		{"no messages", request{method: "POST", path: "/chat/completions", bearer: tok, body: `{"messages":[]}`, ctype: json}, 400, "invalid_request"},
		{"no user message", request{method: "POST", path: "/chat/completions", bearer: tok, body: `{"messages":[{"role":"system","content":"x"}]}`, ctype: json}, 400, "invalid_request"},
		{"no role", request{method: "POST", path: "/chat/completions", bearer: tok, body: `{"messages":[{"content":"x"}]}`, ctype: json}, 400, "invalid_request"},
		{"content number", request{method: "POST", path: "/chat/completions", bearer: tok, body: `{"messages":[{"role":"user","content":5}]}`, ctype: json}, 400, "invalid_request"},
		{"messages object", request{method: "POST", path: "/chat/completions", bearer: tok, body: `{"messages":{}}`, ctype: json}, 400, "invalid_request"},
		{"stream string", request{method: "POST", path: "/chat/completions", bearer: tok, body: `{"stream":"yes","messages":[{"role":"user","content":"x"}]}`, ctype: json}, 400, "invalid_request"},
		{"role number", request{method: "POST", path: "/chat/completions", bearer: tok, body: `{"messages":[{"role":1,"content":"x"}]}`, ctype: json}, 400, "invalid_request"},
		{"duplicate member", request{method: "POST", path: "/chat/completions", bearer: tok, body: `{"stream":true,"stream":false,"messages":[{"role":"user","content":"x"}]}`, ctype: json}, 400, "invalid_request"},
		{"stream_options string", request{method: "POST", path: "/chat/chat/completions", bearer: tok, body: `{"stream":true,"stream_options":"usage","messages":[{"role":"user","content":"x"}]}`, ctype: json}, 400, "invalid_request"},
		{"include_usage string", request{method: "POST", path: "/chat/chat/completions", bearer: tok, body: `{"stream":true,"stream_options":{"include_usage":"yes"},"messages":[{"role":"user","content":"x"}]}`, ctype: json}, 400, "invalid_request"},
		{"max_tokens zero", request{method: "POST", path: "/chat/chat/completions", bearer: tok, body: `{"max_tokens":0,"messages":[{"role":"user","content":"x"}]}`, ctype: json}, 400, "invalid_request"},
		{"max_completion_tokens negative", request{method: "POST", path: "/chat/chat/completions", bearer: tok, body: `{"max_completion_tokens":-1,"messages":[{"role":"user","content":"x"}]}`, ctype: json}, 400, "invalid_request"},
		{"max_tokens fraction", request{method: "POST", path: "/chat/chat/completions", bearer: tok, body: `{"max_tokens":1.5,"messages":[{"role":"user","content":"x"}]}`, ctype: json}, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ts.do(t, tt.req)
			wantError(t, res, tt.wantStatus, tt.wantCode)
			if tt.wantStatus == http.StatusMethodNotAllowed && res.header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q, want POST", res.header.Get("Allow"))
			}
		})
	}
}

// TestEchoRoutes covers the echo's router: what it answers, the 404 of any
// other path (naming the paths it answers) and the 405 of another method (with
// Allow), all in the OpenAI error shape.
func TestEchoRoutes(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.createSession(t, "").AccessToken
	tests := []struct {
		method, path string
		wantStatus   int
		wantAllow    string
	}{
		{"GET", "/chat/models", 200, ""},
		{"GET", "/chat/models/gpt-4o-mini", 200, ""},
		{"POST", "/chat/chat/completions", 400, ""}, // no body, but routed
		{"POST", "/chat/completions", 400, ""},
		{"POST", "/chat/responses", 400, ""},
		{"POST", "/chat/v1/messages", 400, ""},
		{"GET", "/chat/chat/completions", 405, "POST"},
		{"PUT", "/chat/completions", 405, "POST"},
		{"GET", "/chat/responses", 405, "POST"},
		{"DELETE", "/chat/v1/messages", 405, "POST"},
		{"POST", "/chat/models", 405, "GET"},
		{"POST", "/chat/models/" + testAPIKey, 405, "GET"}, // the message names the template, not the path
		{"GET", "/chat/", 404, ""},
		{"GET", "/chat/models/", 404, ""},
		{"GET", "/chat/models/a/b", 404, ""},
		{"POST", "/chat/v1/chat/completions", 404, ""},
		{"POST", "/chat/messages", 404, ""},
		{"POST", "/chat/responses/", 404, ""},
		{"GET", "/chat/v1/models", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			res := ts.do(t, request{method: tt.method, path: tt.path, bearer: tok})
			switch tt.wantStatus {
			case http.StatusOK:
				if res.status != http.StatusOK {
					t.Fatalf("status = %d, body %s", res.status, res.body)
				}
				return
			case http.StatusBadRequest:
				if b := wantError(t, res, tt.wantStatus, "invalid_request"); b.Description != "a JSON request body is required" {
					t.Errorf("message = %q, want the missing body named", b.Description)
				}
				return
			}
			b := wantError(t, res, tt.wantStatus, "invalid_request")
			if strings.Contains(res.body, testAPIKey) {
				t.Errorf("the answer repeats the path: %s", res.body)
			}
			if got := res.header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			if tt.wantStatus == http.StatusNotFound {
				if b.Type != "not_found_error" {
					t.Errorf("type = %q, want not_found_error", b.Type)
				}
				for _, p := range []string{"POST /chat/chat/completions", "POST /chat/completions", "GET /chat/models", "POST /chat/responses", "POST /chat/v1/messages"} {
					if !strings.Contains(b.Description, p) {
						t.Errorf("404 message %q does not name %s", b.Description, p)
					}
				}
			} else if want := "only with " + tt.wantAllow; !strings.HasSuffix(b.Description, want) {
				t.Errorf("405 message %q does not end with %q", b.Description, want)
			}
		})
	}
}
