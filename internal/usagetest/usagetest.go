// Package usagetest writes the answers of a chat upstream that reports its
// token usage, whole and streamed, in the shapes of the three APIs jwtgate
// counts (chat completions, responses, messages), for the tests of
// pkg/server and e2e.
package usagetest

import "fmt"

// Answer is a whole answer of the API api ("/chat/completions",
// "/responses", else "/messages") reporting use: input and output tokens.
func Answer(api string, use [2]int64) string {
	switch api {
	case "/chat/completions":
		return fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-test","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, use[0], use[1], use[0]+use[1])
	case "/responses":
		return fmt.Sprintf(`{"id":"resp_1","object":"response","status":"completed","output":[],"usage":{"input_tokens":%d,"output_tokens":%d,"total_tokens":%d}}`, use[0], use[1], use[0]+use[1])
	}
	return fmt.Sprintf(`{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"Hi"}],"model":"claude-test","usage":{"input_tokens":%d,"output_tokens":%d}}`, use[0], use[1])
}

// Events is a streamed answer of the API api reporting use, event by event,
// each ending with its blank line; a chat stream carries its usage only with
// includeUsage (as stream_options.include_usage asks).
func Events(api string, use [2]int64, includeUsage bool) []string {
	switch api {
	case "/chat/completions":
		tail := ""
		if includeUsage {
			tail = `,"usage":null`
		}
		chunk := func(delta, finish string) string {
			return `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[{"index":0,"delta":` + delta + `,"finish_reason":` + finish + `}]` + tail + "}\n\n"
		}
		ev := []string{chunk(`{"role":"assistant","content":"Hi"}`, "null"), chunk(`{"content":" there"}`, "null"), chunk(`{}`, `"stop"`)}
		if includeUsage {
			ev = append(ev, fmt.Sprintf(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-test","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`+"\n\n", use[0], use[1], use[0]+use[1]))
		}
		return append(ev, "data: [DONE]\n\n")
	case "/responses":
		return []string{
			"event: response.created\n" + `data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","status":"in_progress","usage":null}}` + "\n\n",
			"event: response.output_text.delta\n" + `data: {"type":"response.output_text.delta","sequence_number":1,"delta":"Hi"}` + "\n\n",
			"event: response.completed\n" + fmt.Sprintf(`data: {"type":"response.completed","sequence_number":2,"response":{"id":"resp_1","status":"completed","usage":{"input_tokens":%d,"output_tokens":%d,"total_tokens":%d}}}`, use[0], use[1], use[0]+use[1]) + "\n\n",
			"event: done\ndata: {}\n\n",
		}
	}
	return []string{
		"event: message_start\n" + fmt.Sprintf(`data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-test","usage":{"input_tokens":%d,"output_tokens":1}}}`, use[0]) + "\n\n",
		"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}` + "\n\n",
		"event: message_delta\n" + fmt.Sprintf(`data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":%d}}`, use[1]) + "\n\n",
		"event: message_stop\n" + `data: {"type":"message_stop"}` + "\n\n",
	}
}
