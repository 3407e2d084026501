package server

import (
	"fmt"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The echo's OpenAI chat completions: POST /chat/chat/completions (and the
// alias POST /chat/completions), whole or, with "stream": true, as
// chat.completion.chunk events ending in "data: [DONE]". With
// stream_options.include_usage every chunk carries "usage": null and a last
// chunk with no choices carries the usage, as OpenAI sends it.

// chatRequest is the part of a chat-completions request the echo reads. Other
// members (temperature, tools, ...) are accepted and ignored, as a real backend
// would take them. stream_options is ignored on a request that does not stream.
type chatRequest struct {
	Model               string             `json:"model"`
	Messages            []chatMessage      `json:"messages"`
	Stream              bool               `json:"stream"`
	StreamOptions       *chatStreamOptions `json:"stream_options"`
	MaxCompletionTokens *int               `json:"max_completion_tokens"`
	MaxTokens           *int               `json:"max_tokens"` // the older name
}

type chatStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// chatMessage is one message. Content is a string, null, or an array of content
// parts of which the "text" ones are read.
type chatMessage struct {
	Role    string         `json:"role"`
	Content jsontext.Value `json:"content"`
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
	Choices []chunkChoice `json:"choices"` // [] (never null) in the usage chunk
	// Usage is absent without stream_options.include_usage; with it, null in
	// every chunk but the last, which carries the usage object.
	Usage jsontext.Value `json:"usage,omitzero"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	FinishReason *string    `json:"finish_reason"` // null until the last content chunk
}

type chunkDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitzero"`
}

func chatCompletionsSpec(limit int64) bodySpec {
	return bodySpec{limit: limit, invalid: map[string]string{
		"/model":                        "model must be a string",
		"/messages":                     "messages must be an array of messages",
		"/stream":                       "stream must be a boolean",
		"/stream_options":               "stream_options must be an object",
		"/stream_options/include_usage": "stream_options.include_usage must be a boolean",
		"/max_completion_tokens":        "max_completion_tokens must be an integer",
		"/max_tokens":                   "max_tokens must be an integer",
	}}
}

// handleChatCompletions answers a chat completion with the last user message.
func (e *echoBackend) handleChatCompletions(c *gin.Context) {
	var req chatRequest
	if !decodeEchoBody(c, e.chatSpec, &req) {
		return
	}
	text, prompt, ae := lastUserText(req.Messages)
	if ae == nil {
		ae = positiveLimit("max_completion_tokens", req.MaxCompletionTokens)
	}
	if ae == nil {
		ae = positiveLimit("max_tokens", req.MaxTokens)
	}
	if ae != nil {
		respondError(c, ae)
		return
	}
	limit := req.MaxCompletionTokens
	if limit == nil {
		limit = req.MaxTokens
	}
	r := newEchoReply(text, prompt, limit)
	model := req.Model
	if model == "" {
		model = echoModel
	}
	reportEchoUsage(c, model, r.input, r.output)
	finish := "stop"
	if r.truncated {
		finish = "length"
	}
	base := chatChunk{ID: newEchoID("chatcmpl-"), Object: "chat.completion.chunk", Created: time.Now().Unix(), Model: model}
	usage := chatUsage{PromptTokens: r.input, CompletionTokens: r.output, TotalTokens: r.input + r.output}
	if !req.Stream {
		e.reply(c, chatCompletion{
			ID: base.ID, Object: "chat.completion", Created: base.Created, Model: model,
			Choices: []chatChoice{{Message: replyMessage{Role: "assistant", Content: r.text}, FinishReason: finish}},
			Usage:   usage,
		})
		return
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	e.stream(c, func(s *sseStream) bool {
		return streamChatCompletion(s, base, r, finish, usage, includeUsage)
	})
}

// streamChatCompletion writes one chunk per word (the first naming the role),
// a chunk with finish and an empty delta, the usage chunk when asked for, and
// [DONE].
func streamChatCompletion(s *sseStream, base chatChunk, r echoReply, finish string, usage chatUsage, includeUsage bool) bool {
	if includeUsage {
		base.Usage = jsontext.Value("null")
	}
	send := func(delta chunkDelta, finish *string) bool {
		ch := base
		ch.Choices = []chunkChoice{{Delta: delta, FinishReason: finish}}
		return s.send("", ch)
	}
	pieces := r.pieces
	if len(pieces) == 0 {
		pieces = []string{""} // the role still goes out in a first chunk
	}
	for i, p := range pieces {
		delta := chunkDelta{Content: &p}
		if i == 0 {
			delta.Role = "assistant"
		} else if !s.pause() {
			return false
		}
		if !send(delta, nil) {
			return false
		}
	}
	if !send(chunkDelta{}, &finish) {
		return false
	}
	if includeUsage {
		last := base
		last.Choices = []chunkChoice{}
		b, err := marshalUsage(usage)
		if err != nil {
			return false
		}
		last.Usage = b
		if !s.send("", last) {
			return false
		}
	}
	return s.write("", []byte("[DONE]"))
}

func marshalUsage(u chatUsage) (jsontext.Value, error) {
	b, err := json.Marshal(u)
	return jsontext.Value(b), err
}

// lastUserText checks messages and returns the text of the last user message and
// the word count of all of them (the echo's prompt tokens).
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
		text, ok := contentText(m.Content, isChatTextPart)
		if !ok {
			return "", 0, invalidRequest(fmt.Sprintf("messages[%d].content must be a string, null or an array of content parts", i))
		}
		prompt += countWords(text)
		if m.Role == "user" {
			last, found = text, true
		}
	}
	if !found {
		return "", 0, invalidRequest("messages must include a user message")
	}
	return last, prompt, nil
}

// isChatTextPart tells the text parts of a chat message ({"type": "text"}).
func isChatTextPart(t string) bool { return t == "text" }
