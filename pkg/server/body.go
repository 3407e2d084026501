package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// bodySpec says how a handler's JSON request body is read and checked.
type bodySpec struct {
	// limit is the largest body accepted, in bytes (413 past it).
	limit int64
	// strict refuses members the target struct does not name (the /sessions
	// bodies); otherwise they are ignored (OpenAI requests carry many).
	strict bool
	// fields lists the accepted members, for the unknown-member message.
	fields string
	// invalid describes a value of the wrong type or range, by JSON pointer of
	// the member ("/ttl"); members not listed get a generic description.
	invalid map[string]string
}

// decodeBody reads c's request body and, when it is not empty, decodes it into v.
// It reports whether there was a body. An empty body is not an error here;
// handlers that need one say so.
//
// A body must be application/json in UTF-8 and hold exactly one JSON value:
// trailing data, duplicate member names and invalid UTF-8 are refused. The
// descriptions sent back are fixed texts, never the decoder's messages, which can
// quote the input (an API key, say).
func decodeBody(c *gin.Context, spec bodySpec, v any) (bool, *apiError) {
	r := c.Request
	if r.ContentLength > spec.limit {
		return false, tooLarge(spec.limit)
	}
	if r.Body == nil {
		return false, nil
	}
	body, err := readAll(http.MaxBytesReader(c.Writer, r.Body, spec.limit), r.ContentLength)
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return false, tooLarge(spec.limit)
		}
		return false, invalidRequest("the request body could not be read")
	}
	if len(body) == 0 {
		return false, nil
	}
	if e := checkJSONContentType(r.Header.Get("Content-Type")); e != nil {
		return true, e
	}
	return true, decodeJSON(body, spec, v)
}

// maxPresized bounds the buffer readAll allocates before reading, from the
// declared length alone.
const maxPresized = 16 << 10

// readAll is io.ReadAll with a first buffer of the body's declared length
// (plus the byte where its end shows) when that is known and small, instead
// of 512 bytes for a body of 30; a body longer than declared still reads to
// its end (the MaxBytesReader bounds it).
func readAll(r io.Reader, declared int64) ([]byte, error) {
	if declared <= 0 || declared > maxPresized {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, declared+1)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

func tooLarge(limit int64) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, code: codeTooLarge,
		desc: fmt.Sprintf("the request body must be at most %d bytes", limit)}
}

// checkJSONContentType accepts application/json with no charset or UTF-8 (RFC
// 8259 section 8.1: JSON exchanged between systems is UTF-8).
func checkJSONContentType(ct string) *apiError {
	unsupported := func(desc string) *apiError {
		return &apiError{status: http.StatusUnsupportedMediaType, code: codeUnsupportedMedia, desc: desc}
	}
	switch ct {
	case "":
		return unsupported("the request body must have Content-Type application/json")
	case "application/json", "application/json; charset=utf-8":
		return nil // what clients send, accepted without parsing it
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return unsupported("the request body must have Content-Type application/json")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return unsupported("the request body must be encoded in UTF-8")
	}
	return nil
}

// decodeJSON decodes exactly one JSON value from body into v.
func decodeJSON(body []byte, spec bodySpec, v any) *apiError {
	// From a bytes.Buffer the decoder parses body in place instead of copying
	// it into a buffer of its own.
	dec := jsontext.NewDecoder(bytes.NewBuffer(body))
	val, err := dec.ReadValue()
	switch {
	case errors.Is(err, jsontext.ErrDuplicateName):
		return invalidRequest("the request body has a duplicate member")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidRequest("the request body is incomplete JSON")
	case err != nil:
		return invalidRequest("the request body is not valid JSON")
	}
	if val.Kind() != '{' {
		return invalidRequest("the request body must be a JSON object")
	}
	// val aliases the decoder's buffer, which the next read may overwrite.
	val = bytes.Clone(val)
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return invalidRequest("the request body has data after the JSON value")
	}
	if err := json.Unmarshal(val, v, json.RejectUnknownMembers(spec.strict)); err != nil {
		return describeSemanticError(err, spec)
	}
	return nil
}

// describeSemanticError turns a decoding error into a fixed description.
func describeSemanticError(err error, spec bodySpec) *apiError {
	if errors.Is(err, json.ErrUnknownName) {
		return invalidRequest("the request body has an unknown member; accepted: " + spec.fields)
	}
	var se *json.SemanticError
	if !errors.As(err, &se) || se.JSONPointer == "" {
		return invalidRequest("the request body must be a JSON object")
	}
	ptr := string(se.JSONPointer)
	if desc, ok := spec.invalid[ptr]; ok {
		return invalidRequest(desc)
	}
	if name, ok := memberPath(ptr); ok {
		return invalidRequest(name + " has the wrong type")
	}
	return invalidRequest("the request body has a member of the wrong type")
}

// memberPath renders a JSON pointer such as "/messages/0/role" as
// "messages[0].role" when it is made only of plain names and indexes, as the
// pointers of known members are; anything else is not echoed.
func memberPath(ptr string) (string, bool) {
	if len(ptr) > 64 {
		return "", false
	}
	var b strings.Builder
	for i, seg := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		if seg == "" {
			return "", false
		}
		index := true
		for _, c := range []byte(seg) {
			switch {
			case '0' <= c && c <= '9':
			case 'a' <= c && c <= 'z', c == '_':
				index = false
			default:
				return "", false
			}
		}
		switch {
		case index && i > 0:
			b.WriteString("[" + seg + "]")
		case index:
			return "", false
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(seg)
		}
	}
	return b.String(), true
}
