package server

import (
	"fmt"

	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json/jsontext"
)

// The echo's Anthropic Messages API: POST /chat/v1/messages, the path the
// Anthropic SDK calls with base URL http://<jwtgate>/chat. Whole, or with
// "stream": true as the Messages event sequence (message_start,
// content_block_start, ping, one content_block_delta per word,
// content_block_stop, message_delta, message_stop). max_tokens is required, as
// Anthropic requires it: a client written against the echo then works against
// the real API too. A reply cut at max_tokens stops with "max_tokens".

// messagesRequest is the part of a Messages request the echo reads; other
// members (temperature, tools, metadata, ...) are accepted and ignored.
type messagesRequest struct {
	Model     string `json:"model"`
	MaxTokens *int   `json:"max_tokens"`
	// System is a string or an array of text blocks; it counts as input tokens.
	System   jsontext.Value     `json:"system"`
	Messages []anthropicMessage `json:"messages"`
	Stream   bool               `json:"stream"`
}

// anthropicMessage is one message: role "user" or "assistant", content a string
// or an array of content blocks, of which the "text" ones are read.
type anthropicMessage struct {
	Role    string         `json:"role"`
	Content jsontext.Value `json:"content"`
}

// anthropicReply is a Messages response, whole or as the snapshot of
// message_start.
type anthropicReply struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	Role         string          `json:"role"`
	Model        string          `json:"model"`
	Content      []anthropicText `json:"content"`
	StopReason   *string         `json:"stop_reason"` // null in message_start
	StopSequence *string         `json:"stop_sequence"`
	Usage        anthropicUsage  `json:"usage"`
}

type anthropicText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type anthropicUsage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

// The stream's events.
type (
	anthropicEvent struct { // ping, message_stop
		Type string `json:"type"`
	}
	anthropicMessageStart struct {
		Type    string         `json:"type"`
		Message anthropicReply `json:"message"`
	}
	anthropicBlockStart struct {
		Type         string        `json:"type"`
		Index        int           `json:"index"`
		ContentBlock anthropicText `json:"content_block"`
	}
	anthropicBlockDelta struct {
		Type  string        `json:"type"`
		Index int           `json:"index"`
		Delta anthropicText `json:"delta"` // type text_delta
	}
	anthropicBlockStop struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	}
	anthropicMessageDelta struct {
		Type  string `json:"type"`
		Delta struct {
			StopReason   string  `json:"stop_reason"`
			StopSequence *string `json:"stop_sequence"`
		} `json:"delta"`
		Usage struct {
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	}
)

func anthropicMessagesSpec(limit int64) bodySpec {
	return bodySpec{limit: limit, invalid: map[string]string{
		"/model":      "model must be a string",
		"/max_tokens": "max_tokens must be an integer",
		"/messages":   "messages must be an array of messages",
		"/stream":     "stream must be a boolean",
	}}
}

// handleMessages answers a Messages request with the last user message.
func (e *echoBackend) handleMessages(c *gin.Context) {
	var req messagesRequest
	if !decodeEchoBody(c, e.messagesSpec, &req) {
		return
	}
	text, input, ae := anthropicConversation(req)
	if ae != nil {
		respondError(c, ae)
		return
	}
	r := newEchoReply(text, input, req.MaxTokens)
	model := req.Model
	if model == "" {
		model = echoModel
	}
	reportEchoUsage(c, model, r.input, r.output)
	stop := "end_turn"
	if r.truncated {
		stop = "max_tokens"
	}
	reply := anthropicReply{ID: newEchoID("msg_"), Type: "message", Role: "assistant", Model: model,
		Usage: anthropicUsage{InputTokens: r.input, OutputTokens: r.output}}
	if !req.Stream {
		reply.Content = []anthropicText{{Type: "text", Text: r.text}}
		reply.StopReason = &stop
		e.reply(c, reply)
		return
	}
	e.stream(c, func(s *sseStream) bool { return streamMessage(s, reply, r, stop) })
}

// streamMessage writes the Messages event sequence for r.
func streamMessage(s *sseStream, reply anthropicReply, r echoReply, stop string) bool {
	start := reply
	start.Content = []anthropicText{}
	start.Usage.OutputTokens = 0 // counted in message_delta
	if !s.send("message_start", anthropicMessageStart{Type: "message_start", Message: start}) ||
		!s.send("content_block_start", anthropicBlockStart{Type: "content_block_start", ContentBlock: anthropicText{Type: "text"}}) ||
		!s.send("ping", anthropicEvent{Type: "ping"}) {
		return false
	}
	for i, p := range r.pieces {
		if i > 0 && !s.pause() {
			return false
		}
		if !s.send("content_block_delta", anthropicBlockDelta{Type: "content_block_delta", Delta: anthropicText{Type: "text_delta", Text: p}}) {
			return false
		}
	}
	md := anthropicMessageDelta{Type: "message_delta"}
	md.Delta.StopReason = stop
	md.Usage.OutputTokens = r.output
	return s.send("content_block_stop", anthropicBlockStop{Type: "content_block_stop"}) &&
		s.send("message_delta", md) &&
		s.send("message_stop", anthropicEvent{Type: "message_stop"})
}

// anthropicConversation checks a Messages request and returns the text of the
// last user message and the words of the system prompt and every message.
func anthropicConversation(req messagesRequest) (string, int, *apiError) {
	if req.MaxTokens == nil {
		return "", 0, invalidRequest("max_tokens is required")
	}
	if ae := positiveLimit("max_tokens", req.MaxTokens); ae != nil {
		return "", 0, ae
	}
	system, ok := contentText(req.System, isAnthropicTextBlock)
	if !ok {
		return "", 0, invalidRequest("system must be a string or an array of text blocks")
	}
	if len(req.Messages) == 0 {
		return "", 0, invalidRequest("messages must not be empty")
	}
	words := countWords(system)
	var last string
	found := false
	for i, m := range req.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return "", 0, invalidRequest(fmt.Sprintf("messages[%d].role must be \"user\" or \"assistant\"", i))
		}
		if m.Content.Kind() == 0 || m.Content.Kind() == 'n' {
			return "", 0, invalidRequest(fmt.Sprintf("messages[%d].content is required", i))
		}
		text, ok := contentText(m.Content, isAnthropicTextBlock)
		if !ok {
			return "", 0, invalidRequest(fmt.Sprintf("messages[%d].content must be a string or an array of content blocks", i))
		}
		words += countWords(text)
		if m.Role == "user" {
			last, found = text, true
		}
	}
	if !found {
		return "", 0, invalidRequest("messages must include a user message")
	}
	return last, words, nil
}

// isAnthropicTextBlock tells the text blocks of Anthropic content.
func isAnthropicTextBlock(t string) bool { return t == "text" }
