// Package usage reads the token usage out of a chat upstream's answers as the
// bytes pass through jwtgate: OpenAI chat completions, the OpenAI Responses API
// and Anthropic Messages, each streamed (server-sent events) or not (JSON).
//
// A [Reader] wraps an answer's body. It hands every byte on as soon as it has
// read it, keeps no copy of the answer (memory is a few hundred bytes, whatever
// the answer's size), allocates nothing per event, and never fails the stream:
// what it cannot read is counted in [Result.Malformed] and the bytes still flow.
// For a streamed chat completion it can also remove the usage chunk that
// jwtgate asked for on the client's behalf ([StripUsageChunk], together with
// [IncludeStreamUsage] on the request), so the client sees the stream it would
// have seen without jwtgate.
//
// The package has no HTTP framework dependency.
package usage
