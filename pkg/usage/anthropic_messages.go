package usage

// Anthropic Messages (POST /v1/messages).
//
// A JSON answer reports {"usage":{"input_tokens":N,"output_tokens":N,
// "cache_creation_input_tokens":N,"cache_read_input_tokens":N}}. A stream
// reports the input in message_start and the output, cumulative, in each
// message_delta (which may repeat the input counts too):
//
//	event: message_start
//	data: {"type":"message_start","message":{...,"usage":{"input_tokens":25,"output_tokens":1}}}
//	...
//	event: message_delta
//	data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}
//
// Each count is taken from the latest event reporting it. Anthropic's
// input_tokens leaves out the tokens read from or written to the prompt cache,
// so the input is the sum of the three.

// Slots of the Messages paths: the four counts of message.usage, then the four
// of a message_delta's usage.
const (
	slotMsgInput = iota
	slotMsgOutput
	slotMsgCacheWrite
	slotMsgCacheRead
	slotDeltaBase // added to the above for the message_delta slots
)

var (
	messagesAnswerPaths = newPaths(
		pathSpec{path: "usage.input_tokens", slot: slotMsgInput},
		pathSpec{path: "usage.output_tokens", slot: slotMsgOutput},
		pathSpec{path: "usage.cache_creation_input_tokens", slot: slotMsgCacheWrite},
		pathSpec{path: "usage.cache_read_input_tokens", slot: slotMsgCacheRead},
	)
	messagesEventPaths = newPaths(
		pathSpec{path: "message.usage.input_tokens", slot: slotMsgInput},
		pathSpec{path: "message.usage.output_tokens", slot: slotMsgOutput},
		pathSpec{path: "message.usage.cache_creation_input_tokens", slot: slotMsgCacheWrite},
		pathSpec{path: "message.usage.cache_read_input_tokens", slot: slotMsgCacheRead},
		pathSpec{path: "usage.input_tokens", slot: slotDeltaBase + slotMsgInput},
		pathSpec{path: "usage.output_tokens", slot: slotDeltaBase + slotMsgOutput},
		pathSpec{path: "usage.cache_creation_input_tokens", slot: slotDeltaBase + slotMsgCacheWrite},
		pathSpec{path: "usage.cache_read_input_tokens", slot: slotDeltaBase + slotMsgCacheRead},
	)
)

// collectMessages updates the Messages usage so far (counts, from the latest
// event reporting each) with an answer or event.
func collectMessages(s *scanner, res *Result, counts *[4]int64) {
	found := false
	for k := range counts {
		if v, ok := s.value(slotDeltaBase + k); ok {
			counts[k], found = v, true
		} else if v, ok := s.value(k); ok {
			counts[k], found = v, true
		}
	}
	if !found {
		return
	}
	res.Found = true
	res.Usage = Usage{
		InputTokens:  counts[slotMsgInput] + counts[slotMsgCacheWrite] + counts[slotMsgCacheRead],
		OutputTokens: counts[slotMsgOutput],
	}
}
