package server

import (
	"fmt"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The echo's OpenAI Responses API: POST /chat/responses, whole or, with
// "stream": true, as the Responses event sequence (response.created,
// response.in_progress, response.output_item.added, response.content_part.added,
// one response.output_text.delta per word, response.output_text.done,
// response.content_part.done, response.output_item.done, response.completed),
// each a named event with a sequence_number. The shapes are what the openai
// SDK's responses.create and @ai-sdk/openai (whose default model calls this
// API) read. A reply cut at max_output_tokens is "incomplete", as OpenAI's is.

// responsesRequest is the part of a Responses request the echo reads; other
// members (tools, store, reasoning, ...) are accepted and ignored.
type responsesRequest struct {
	Model string `json:"model"`
	// Input is a string (the user's text) or an array of input items.
	Input jsontext.Value `json:"input"`
	// Instructions, the system prompt, count as input tokens and are named in
	// the reply, but not echoed.
	Instructions    *string `json:"instructions"`
	Stream          bool    `json:"stream"`
	MaxOutputTokens *int    `json:"max_output_tokens"`
}

// responseInputItem is one item of an array input: a message (with a role,
// "type": "message" or no type) or another item (function_call_output,
// reasoning, ...), which carries no conversation text the echo reads.
type responseInputItem struct {
	Type    string         `json:"type"`
	Role    string         `json:"role"`
	Content jsontext.Value `json:"content"`
}

// responseObject is a Responses API response, whole or as the snapshot the
// lifecycle events carry.
type responseObject struct {
	ID                 string             `json:"id"`
	Object             string             `json:"object"`
	CreatedAt          int64              `json:"created_at"`
	Status             string             `json:"status"`
	Error              *struct{}          `json:"error"` // always null
	IncompleteDetails  *incompleteDetails `json:"incomplete_details"`
	Instructions       *string            `json:"instructions"`
	MaxOutputTokens    *int               `json:"max_output_tokens"`
	Model              string             `json:"model"`
	Output             []responseMessage  `json:"output"`
	ParallelToolCalls  bool               `json:"parallel_tool_calls"`
	PreviousResponseID *string            `json:"previous_response_id"`
	Text               responseTextConfig `json:"text"`
	ToolChoice         string             `json:"tool_choice"`
	Tools              []struct{}         `json:"tools"`
	Truncation         string             `json:"truncation"`
	Usage              *responseUsage     `json:"usage"` // null until the response is done
	Metadata           map[string]string  `json:"metadata"`
}

type incompleteDetails struct {
	Reason string `json:"reason"`
}

type responseTextConfig struct {
	Format struct {
		Type string `json:"type"`
	} `json:"format"`
}

// responseMessage is the one output item: the assistant's message.
type responseMessage struct {
	Type    string       `json:"type"`
	ID      string       `json:"id"`
	Status  string       `json:"status"`
	Role    string       `json:"role"`
	Content []outputText `json:"content"`
}

type outputText struct {
	Type        string     `json:"type"`
	Text        string     `json:"text"`
	Annotations []struct{} `json:"annotations"`
	Logprobs    []struct{} `json:"logprobs"`
}

type responseUsage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

// The stream's events, in the order they are sent.
type (
	responseLifecycleEvent struct { // response.created, .in_progress, .completed, .incomplete
		Type           string          `json:"type"`
		SequenceNumber int             `json:"sequence_number"`
		Response       *responseObject `json:"response"`
	}
	responseItemEvent struct { // response.output_item.added, .done
		Type           string          `json:"type"`
		SequenceNumber int             `json:"sequence_number"`
		OutputIndex    int             `json:"output_index"`
		Item           responseMessage `json:"item"`
	}
	responsePartEvent struct { // response.content_part.added, .done
		Type           string     `json:"type"`
		SequenceNumber int        `json:"sequence_number"`
		ItemID         string     `json:"item_id"`
		OutputIndex    int        `json:"output_index"`
		ContentIndex   int        `json:"content_index"`
		Part           outputText `json:"part"`
	}
	responseDeltaEvent struct { // response.output_text.delta
		Type           string     `json:"type"`
		SequenceNumber int        `json:"sequence_number"`
		ItemID         string     `json:"item_id"`
		OutputIndex    int        `json:"output_index"`
		ContentIndex   int        `json:"content_index"`
		Delta          string     `json:"delta"`
		Logprobs       []struct{} `json:"logprobs"`
	}
	responseTextDoneEvent struct { // response.output_text.done
		Type           string     `json:"type"`
		SequenceNumber int        `json:"sequence_number"`
		ItemID         string     `json:"item_id"`
		OutputIndex    int        `json:"output_index"`
		ContentIndex   int        `json:"content_index"`
		Text           string     `json:"text"`
		Logprobs       []struct{} `json:"logprobs"`
	}
)

func responsesSpec(limit int64) bodySpec {
	return bodySpec{limit: limit, invalid: map[string]string{
		"/model":             "model must be a string",
		"/instructions":      "instructions must be a string",
		"/stream":            "stream must be a boolean",
		"/max_output_tokens": "max_output_tokens must be an integer",
	}}
}

// handleResponses answers a Responses request with the last user text.
func (e *echoBackend) handleResponses(c *gin.Context) {
	var req responsesRequest
	if !decodeEchoBody(c, e.responsesSpec, &req) {
		return
	}
	text, input, ae := responsesInput(req.Input)
	if ae == nil {
		ae = positiveLimit("max_output_tokens", req.MaxOutputTokens)
	}
	if ae != nil {
		respondError(c, ae)
		return
	}
	if req.Instructions != nil {
		input += countWords(*req.Instructions)
	}
	r := newEchoReply(text, input, req.MaxOutputTokens)
	model := req.Model
	if model == "" {
		model = echoModel
	}
	reportEchoUsage(c, model, r.input, r.output)
	resp := responseObject{
		ID: newEchoID("resp_"), Object: "response", CreatedAt: time.Now().Unix(), Status: "in_progress",
		Instructions: req.Instructions, MaxOutputTokens: req.MaxOutputTokens, Model: model,
		ParallelToolCalls: true, ToolChoice: "auto", Truncation: "disabled",
	}
	resp.Text.Format.Type = "text"
	msg := responseMessage{Type: "message", ID: newEchoID("msg_"), Status: "in_progress", Role: "assistant", Content: []outputText{}}
	if !req.Stream {
		e.reply(c, finishResponse(resp, msg, r))
		return
	}
	e.stream(c, func(s *sseStream) bool { return streamResponse(s, resp, msg, r) })
}

// finishResponse returns resp done: its message holding r's text, the usage,
// and the status ("incomplete" when r was cut at max_output_tokens).
func finishResponse(resp responseObject, msg responseMessage, r echoReply) responseObject {
	resp.Status, msg.Status = "completed", "completed"
	if r.truncated {
		resp.Status, msg.Status = "incomplete", "incomplete"
		resp.IncompleteDetails = &incompleteDetails{Reason: "max_output_tokens"}
	}
	msg.Content = []outputText{{Type: "output_text", Text: r.text}}
	resp.Output = []responseMessage{msg}
	resp.Usage = &responseUsage{InputTokens: r.input, OutputTokens: r.output, TotalTokens: r.input + r.output}
	return resp
}

// streamResponse writes the Responses event sequence for r.
func streamResponse(s *sseStream, resp responseObject, msg responseMessage, r echoReply) bool {
	seq := 0
	send := func(event string, v any) bool {
		seq++
		return s.send(event, v)
	}
	// Each event is built with the sequence number it goes out with.
	lifecycle := func(typ string, ro responseObject) bool {
		return send(typ, responseLifecycleEvent{Type: typ, SequenceNumber: seq, Response: &ro})
	}
	part := func(typ, text string) bool {
		return send(typ, responsePartEvent{Type: typ, SequenceNumber: seq, ItemID: msg.ID,
			Part: outputText{Type: "output_text", Text: text}})
	}
	if !lifecycle("response.created", resp) || !lifecycle("response.in_progress", resp) ||
		!send("response.output_item.added", responseItemEvent{Type: "response.output_item.added", SequenceNumber: seq, Item: msg}) ||
		!part("response.content_part.added", "") {
		return false
	}
	for i, p := range r.pieces {
		if i > 0 && !s.pause() {
			return false
		}
		if !send("response.output_text.delta", responseDeltaEvent{Type: "response.output_text.delta", SequenceNumber: seq, ItemID: msg.ID, Delta: p}) {
			return false
		}
	}
	done := finishResponse(resp, msg, r)
	final := "response.completed"
	if r.truncated {
		final = "response.incomplete"
	}
	return send("response.output_text.done", responseTextDoneEvent{Type: "response.output_text.done", SequenceNumber: seq, ItemID: msg.ID, Text: r.text}) &&
		part("response.content_part.done", r.text) &&
		send("response.output_item.done", responseItemEvent{Type: "response.output_item.done", SequenceNumber: seq, Item: done.Output[0]}) &&
		lifecycle(final, done)
}

// responsesInput reads a Responses input: a string is the user's text; an array
// holds messages (whose "input_text" and "output_text" parts are read) and other
// items (skipped). It returns the last user text and the words of all message
// texts.
func responsesInput(v jsontext.Value) (string, int, *apiError) {
	switch v.Kind() {
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", 0, invalidRequest("input must be a string or an array of input items")
		}
		return s, countWords(s), nil
	case '[':
	case 0, 'n':
		return "", 0, invalidRequest("input is required")
	default:
		return "", 0, invalidRequest("input must be a string or an array of input items")
	}
	var items []jsontext.Value
	if json.Unmarshal(v, &items) != nil {
		return "", 0, invalidRequest("input must be a string or an array of input items")
	}
	var last string
	found := false
	words := 0
	for i, raw := range items {
		var it responseInputItem
		if raw.Kind() != '{' || json.Unmarshal(raw, &it) != nil {
			return "", 0, invalidRequest(fmt.Sprintf("input[%d] must be an input item object", i))
		}
		if it.Type != "" && it.Type != "message" {
			continue // function_call_output, reasoning, item_reference, ...
		}
		if it.Role == "" {
			return "", 0, invalidRequest(fmt.Sprintf("input[%d].role is required", i))
		}
		text, ok := contentText(it.Content, isResponsesTextPart)
		if !ok {
			return "", 0, invalidRequest(fmt.Sprintf("input[%d].content must be a string or an array of content parts", i))
		}
		words += countWords(text)
		if it.Role == "user" {
			last, found = text, true
		}
	}
	if !found {
		return "", 0, invalidRequest("input must include a user message")
	}
	return last, words, nil
}

// isResponsesTextPart tells the text parts of a Responses message.
func isResponsesTextPart(t string) bool { return t == "input_text" || t == "output_text" }
