package usage

// The OpenAI Responses API (POST /v1/responses).
//
// A JSON answer reports {"usage":{"input_tokens":N,"output_tokens":N,...}}. A
// stream's events carry the response object under "response"; its usage is
// null until the last event (response.completed, or response.incomplete or
// response.failed), which reports it:
//
//	event: response.completed
//	data: {"type":"response.completed","sequence_number":9,"response":{...,"usage":{"input_tokens":14,"output_tokens":20,...}}}
//
// The path alone tells these events apart, so the event field is not read.

var (
	responsesAnswerPaths = newPaths(
		pathSpec{path: "usage.input_tokens", slot: slotInput},
		pathSpec{path: "usage.output_tokens", slot: slotOutput},
	)
	responsesEventPaths = newPaths(
		pathSpec{path: "response.usage.input_tokens", slot: slotInput},
		pathSpec{path: "response.usage.output_tokens", slot: slotOutput},
	)
)

// collectResponses takes a Responses answer's or event's usage.
func collectResponses(s *scanner, res *Result) {
	collectChat(s, res) // the same two slots
}
