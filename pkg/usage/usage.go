package usage

import (
	"mime"
	"strings"
)

// Usage is the tokens one answer reports.
type Usage struct {
	// InputTokens counts every token the model read: OpenAI's prompt_tokens or
	// input_tokens (cached tokens are part of them), Anthropic's input_tokens
	// plus cache_creation_input_tokens and cache_read_input_tokens (which
	// Anthropic reports apart).
	InputTokens int64
	// OutputTokens counts the tokens the model wrote (completion_tokens,
	// output_tokens), reasoning tokens included.
	OutputTokens int64
}

// Total is InputTokens plus OutputTokens: what a session's token limits count.
func (u Usage) Total() int64 { return u.InputTokens + u.OutputTokens }

// Surface is an upstream API whose answers report usage.
type Surface uint8

// The surfaces a [Reader] understands. The zero value reads nothing.
const (
	SurfaceUnknown         Surface = iota // not an API whose usage jwtgate reads
	SurfaceChatCompletions                // OpenAI POST /v1/chat/completions
	SurfaceResponses                      // OpenAI POST /v1/responses
	SurfaceMessages                       // Anthropic POST /v1/messages
)

// String names the surface as metrics and logs do: "chat_completions",
// "responses", "messages" or "unknown".
func (s Surface) String() string {
	switch s {
	case SurfaceChatCompletions:
		return "chat_completions"
	case SurfaceResponses:
		return "responses"
	case SurfaceMessages:
		return "messages"
	}
	return "unknown"
}

// SurfaceOf picks the surface from a request path by its last segments:
// "/chat/completions", "/responses" or "/messages" (a trailing slash is
// allowed). Any other path, such as "/responses/{id}" or "/messages/batches",
// is [SurfaceUnknown].
func SurfaceOf(path string) Surface {
	path = strings.TrimSuffix(path, "/")
	switch {
	case strings.HasSuffix(path, "/chat/completions"):
		return SurfaceChatCompletions
	case strings.HasSuffix(path, "/responses"):
		return SurfaceResponses
	case strings.HasSuffix(path, "/messages"):
		return SurfaceMessages
	}
	return SurfaceUnknown
}

// Format is how an answer's body is encoded.
type Format uint8

// The formats a [Reader] reads. The zero value reads nothing.
const (
	FormatOther       Format = iota // anything else: passed through unread
	FormatJSON                      // application/json, or a +json type
	FormatEventStream               // text/event-stream
)

// FormatOf picks the format from an answer's Content-Type and Content-Encoding
// headers. A compressed answer (any Content-Encoding but identity) is
// [FormatOther]: its bytes cannot be read as they pass. A proxy that must count
// tokens therefore drops Accept-Encoding from the requests it forwards for such
// sessions, so the upstream answers uncompressed.
func FormatOf(contentType, contentEncoding string) Format {
	if ce := strings.TrimSpace(contentEncoding); ce != "" && !strings.EqualFold(ce, "identity") {
		return FormatOther
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return FormatOther
	}
	switch {
	case mt == "text/event-stream":
		return FormatEventStream
	case mt == "application/json", strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
		return FormatJSON
	}
	return FormatOther
}

// Result is what a [Reader] found in an answer.
type Result struct {
	// Usage is the answer's usage; zero unless Found.
	Usage Usage
	// Found reports that the answer reported usage. A stream cut short, an
	// error answer or an upstream that does not report usage leaves it false.
	Found bool
	// Malformed counts what could not be read: events of a stream whose data
	// is not JSON (the chat stream's final "[DONE]" excepted) or whose usage
	// is not a non-negative integer, or a JSON answer that is not one whole
	// JSON value. The bytes were passed on all the same.
	Malformed int
	// Events counts the stream's events that carried data (0 for JSON). A
	// caller can use it to estimate the output of a stream that ended before
	// its usage arrived: a chat or Messages stream sends about one token per
	// event.
	Events int
	// Stripped reports that the usage chunk was removed from a chat
	// completion stream ([StripUsageChunk]).
	Stripped bool
}
