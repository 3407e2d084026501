package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// echoModel is the model named in echo replies when the request names none.
const echoModel = "jwtgate-echo"

// DefaultChatMaxBodyBytes bounds echo request bodies when ChatConfig.MaxBodyBytes
// is zero.
const DefaultChatMaxBodyBytes = 1 << 20

// echoPath is the one path below /chat the echo backend answers.
const echoPath = "/completions"

// chatRequest is the part of an OpenAI chat-completions request the echo backend
// reads. Other members (temperature, tools, ...) are accepted and ignored, as a
// real backend would take them.
type chatRequest struct {
	Model    string        `json:"model"`
	Messages []chatMessage `json:"messages"`
	Stream   bool          `json:"stream"`
}

// chatMessage is one message. Content is a string, null, or an array of content
// parts of which the "text" ones are read.
type chatMessage struct {
	Role    string         `json:"role"`
	Content jsontext.Value `json:"content"`
}

type contentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// chatCompletion is a non-streamed reply.
type chatCompletion struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   chatUsage    `json:"usage"`
}

type chatChoice struct {
	Index        int          `json:"index"`
	Message      replyMessage `json:"message"`
	FinishReason string       `json:"finish_reason"`
}

type replyMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// chatChunk is one server-sent event of a streamed reply.
type chatChunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []chunkChoice `json:"choices"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	FinishReason *string    `json:"finish_reason"` // null until the last chunk
}

type chunkDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitzero"`
}

// handleEcho is the built-in chat backend used when no upstream is configured:
// POST /chat/completions answers with the last user message, in the OpenAI
// chat-completions shape, streamed word by word as server-sent events when the
// request asks for "stream": true. It never sees more of the session than the
// request itself: the API key is not part of any reply.
func handleEcho(cfg ChatConfig) gin.HandlerFunc {
	limit := cfg.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultChatMaxBodyBytes // the echo reads bodies into memory: always bounded
	}
	spec := bodySpec{limit: limit, invalid: map[string]string{
		"/model":    "model must be a string",
		"/messages": "messages must be an array of messages",
		"/stream":   "stream must be a boolean",
	}}
	delay := cfg.EchoDelay
	return func(c *gin.Context) {
		if c.Param("path") != echoPath {
			respondError(c, &apiError{status: http.StatusNotFound, code: codeNotFound,
				desc: "the built-in echo backend answers only POST /chat/completions"})
			return
		}
		if c.Request.Method != http.MethodPost {
			c.Header("Allow", http.MethodPost)
			respondError(c, &apiError{status: http.StatusMethodNotAllowed, code: codeMethodNotAllowed,
				desc: "the built-in echo backend answers only POST /chat/completions"})
			return
		}
		var req chatRequest
		hasBody, e := decodeBody(c, spec, &req)
		if e == nil && !hasBody {
			e = invalidRequest("a JSON request body is required")
		}
		if e != nil {
			respondError(c, e)
			return
		}
		text, prompt, e := lastUserText(req.Messages)
		if e != nil {
			respondError(c, e)
			return
		}
		model := req.Model
		if model == "" {
			model = echoModel
		}
		id := "chatcmpl-" + rand.Text()
		created := time.Now().Unix()
		pieces := splitWords(text)
		if !req.Stream {
			respondJSON(c, http.StatusOK, chatCompletion{
				ID: id, Object: "chat.completion", Created: created, Model: model,
				Choices: []chatChoice{{Message: replyMessage{Role: "assistant", Content: text}, FinishReason: "stop"}},
				Usage:   chatUsage{PromptTokens: prompt, CompletionTokens: len(pieces), TotalTokens: prompt + len(pieces)},
			})
			return
		}
		streamEcho(c, chatChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model}, pieces, delay)
	}
}

// lastUserText checks messages and returns the text of the last user message and
// a word count of all of them (the "prompt tokens" of the echo).
func lastUserText(msgs []chatMessage) (string, int, *apiError) {
	if len(msgs) == 0 {
		return "", 0, invalidRequest("messages must not be empty")
	}
	var last string
	found := false
	prompt := 0
	for i, m := range msgs {
		if m.Role == "" {
			return "", 0, invalidRequest(fmt.Sprintf("messages[%d].role is required", i))
		}
		text, ok := contentText(m.Content)
		if !ok {
			return "", 0, invalidRequest(fmt.Sprintf("messages[%d].content must be a string, null or an array of content parts", i))
		}
		prompt += len(strings.Fields(text))
		if m.Role == "user" {
			last, found = text, true
		}
	}
	if !found {
		return "", 0, invalidRequest("messages must include a user message")
	}
	return last, prompt, nil
}

// contentText returns the text of a message's content.
func contentText(v jsontext.Value) (string, bool) {
	switch v.Kind() {
	case 0, 'n': // absent or null
		return "", true
	case '"':
		var s string
		return s, json.Unmarshal(v, &s) == nil
	case '[':
		var parts []contentPart
		if json.Unmarshal(v, &parts) != nil {
			return "", false
		}
		var texts []string
		for _, p := range parts {
			if p.Type == "text" {
				texts = append(texts, p.Text)
			}
		}
		return strings.Join(texts, "\n"), true
	}
	return "", false
}

// splitWords cuts text into pieces of leading white space and one word, the last
// piece keeping any trailing white space, so that the pieces joined are text.
func splitWords(text string) []string {
	var pieces []string
	start := 0
	inWord := false
	for i, r := range text {
		space := unicode.IsSpace(r)
		if space && inWord {
			// A word ended; the next piece starts with this space.
			pieces = append(pieces, text[start:i])
			start = i
		}
		inWord = !space
	}
	if start < len(text) {
		if len(pieces) > 0 && strings.TrimSpace(text[start:]) == "" {
			pieces[len(pieces)-1] += text[start:]
		} else {
			pieces = append(pieces, text[start:])
		}
	}
	return pieces
}

// streamEcho writes pieces as server-sent events, one chunk per piece with delay
// between them, then a final chunk with finish_reason "stop" and "[DONE]". It stops
// as soon as the client goes away.
func streamEcho(c *gin.Context, base chatChunk, pieces []string, delay time.Duration) {
	ctx := c.Request.Context()
	w := c.Writer
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // keep reverse proxies in front from buffering
	w.WriteHeader(http.StatusOK)

	send := func(delta chunkDelta, finish *string) bool {
		ch := base
		ch.Choices = []chunkChoice{{Delta: delta, FinishReason: finish}}
		b, err := json.Marshal(ch)
		if err != nil {
			return false
		}
		return writeEvent(w, b)
	}

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()

	if len(pieces) == 0 {
		pieces = []string{""}
	}
	for i, p := range pieces {
		delta := chunkDelta{Content: &p}
		if i == 0 {
			delta.Role = "assistant"
		} else if !wait(ctx, timer, delay) {
			return
		}
		if !send(delta, nil) {
			return
		}
	}
	stop := "stop"
	if send(chunkDelta{}, &stop) {
		writeEvent(w, []byte("[DONE]"))
	}
}

// writeEvent writes one "data:" event and flushes it. It reports whether the
// client is still there.
func writeEvent(w gin.ResponseWriter, data []byte) bool {
	buf := make([]byte, 0, len(data)+8)
	buf = append(buf, "data: "...)
	buf = append(buf, data...)
	buf = append(buf, "\n\n"...)
	if _, err := w.Write(buf); err != nil {
		return false
	}
	// gin's Flush does nothing when the connection cannot flush; net/http's can.
	w.Flush()
	return true
}

// wait pauses for d, or returns false at once when ctx ends (a disconnected client).
func wait(ctx context.Context, t *time.Timer, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t.Reset(d)
	select {
	case <-ctx.Done():
		t.Stop()
		return false
	case <-t.C:
		return true
	}
}
