package usage

import (
	"bytes"
	"errors"
	"io"

	"github.com/go-json-experiment/json/jsontext"
)

// StreamOptionsMember is the member [IncludeStreamUsage] adds, after a comma,
// to a streamed request that has no stream_options: a caller that has
// already parsed the body's top level, and found "stream":true and no
// stream_options, may splice it in before the closing brace itself.
const StreamOptionsMember = `"stream_options":` + streamOptionsValue

// The bytes IncludeStreamUsage writes.
const (
	includeUsageMember = `"include_usage":true`
	streamOptionsValue = `{` + includeUsageMember + `}`
	streamOptionsEntry = `,` + StreamOptionsMember
)

// IncludeStreamUsage returns body, a chat completion request, asking for the
// stream's usage chunk: when body is a JSON object with "stream":true whose
// stream_options.include_usage is not already true, it sets it (adding
// stream_options or the member, or replacing a false or null) and reports
// injected. Every other byte stays as it was: members are neither re-encoded
// nor reordered. The answer of an injected request is read with
// [StripUsageChunk], so that the client gets the stream it asked for.
//
// A body that does not stream, or whose stream_options is not an object or
// null, or whose include_usage is neither a boolean nor null, is returned
// unchanged (the upstream judges it). A body that is not one JSON object gets
// [ErrNotJSONObject], with body returned as it was.
func IncludeStreamUsage(body []byte) (out []byte, injected bool, err error) {
	top, err := readObject(body)
	if err != nil {
		return body, false, err
	}
	stream, ok := top.members["stream"]
	if !ok || string(body[stream.start:stream.end]) != "true" {
		return body, false, nil
	}
	opts, ok := top.members["stream_options"]
	if !ok {
		return splice(body, top.close, top.close, streamOptionsEntry), true, nil
	}
	switch body[opts.start] {
	case 'n':
		return splice(body, opts.start, opts.end, streamOptionsValue), true, nil
	case '{':
	default:
		return body, false, nil
	}
	inner, err := readObject(body[opts.start:opts.end])
	if err != nil {
		return body, false, err
	}
	iu, ok := inner.members["include_usage"]
	if !ok {
		at := opts.start + inner.close
		if len(inner.members) > 0 {
			return splice(body, at, at, ","+includeUsageMember), true, nil
		}
		return splice(body, at, at, includeUsageMember), true, nil
	}
	switch string(body[opts.start+iu.start : opts.start+iu.end]) {
	case "false", "null":
		return splice(body, opts.start+iu.start, opts.start+iu.end, "true"), true, nil
	}
	return body, false, nil
}

// span is a member value's place in its object's bytes.
type span struct{ start, end int }

// object is a JSON object's top-level members and where its closing brace is.
type object struct {
	members map[string]span
	close   int
}

// readObject finds the members of the single JSON object in b.
func readObject(b []byte) (object, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(b))
	tok, err := dec.ReadToken()
	if err != nil || tok.Kind() != '{' {
		return object{}, ErrNotJSONObject
	}
	obj := object{members: make(map[string]span)}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil || name.Kind() != '"' {
			return object{}, ErrNotJSONObject
		}
		key := name.String()
		v, err := dec.ReadValue()
		if err != nil {
			return object{}, ErrNotJSONObject
		}
		end := int(dec.InputOffset())
		obj.members[key] = span{start: end - len(v), end: end}
	}
	if _, err := dec.ReadToken(); err != nil {
		return object{}, ErrNotJSONObject
	}
	obj.close = int(dec.InputOffset()) - 1
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return object{}, ErrNotJSONObject // data after the object
	}
	return obj, nil
}

// splice returns a copy of b with b[from:to] replaced by s.
func splice(b []byte, from, to int, s string) []byte {
	out := make([]byte, 0, len(b)-(to-from)+len(s))
	out = append(out, b[:from]...)
	out = append(out, s...)
	return append(out, b[to:]...)
}
