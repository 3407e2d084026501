package usage

// OpenAI chat completions (POST /v1/chat/completions).
//
// A JSON answer reports {"usage":{"prompt_tokens":N,"completion_tokens":N,...}}.
// A stream reports usage only when the request set
// stream_options.include_usage: every chunk then carries "usage":null, and one
// more chunk before "data: [DONE]" has "choices":[] and the usage object:
//
//	data: {"id":"chatcmpl-1","object":"chat.completion.chunk",...,"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}
//
// Some compatible servers report cumulative usage in every chunk; the last one
// read wins, which is right for both.

// Slots of the OpenAI paths.
const (
	slotInput  = 0
	slotOutput = 1
)

var (
	chatAnswerPaths = newPaths(
		pathSpec{path: "usage.prompt_tokens", slot: slotInput},
		pathSpec{path: "usage.completion_tokens", slot: slotOutput},
	)
	chatChunkPaths = newPaths(
		pathSpec{path: "usage", slot: -1, flags: flagUsage},
		pathSpec{path: "usage.prompt_tokens", slot: slotInput},
		pathSpec{path: "usage.completion_tokens", slot: slotOutput},
		pathSpec{path: "choices", slot: -1, flags: flagChoices},
	)
)

// collectChat takes a chat answer's or chunk's usage.
func collectChat(s *scanner, res *Result) {
	in, okIn := s.value(slotInput)
	out, okOut := s.value(slotOutput)
	if okIn || okOut {
		res.Usage = Usage{InputTokens: in, OutputTokens: out}
		res.Found = true
	}
}
