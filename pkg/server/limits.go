package server

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/jwtgate/jwtgate/pkg/token"
	"github.com/jwtgate/jwtgate/pkg/usage"
)

// The request body members that ask for output tokens: Chat Completions
// (max_completion_tokens, and the older max_tokens), Responses
// (max_output_tokens) and Anthropic Messages (max_tokens).
const (
	memberMaxTokens           = "max_tokens"
	memberMaxCompletionTokens = "max_completion_tokens"
	memberMaxOutputTokens     = "max_output_tokens"
)

// outputMembers lists them in the order bodyScan.out holds them.
var outputMembers = [...]string{memberMaxTokens, memberMaxCompletionTokens, memberMaxOutputTokens}

// enforceLimits returns the middleware that holds a /chat/* request to the limits
// of its session (docs/DESIGN.md, "Session limits") before the proxy or the echo
// backend sees it: the path after /chat against the session's paths (403
// path_not_allowed, WebSocket upgrades included), the body's model against its
// models (403 model_not_allowed) and the output-token members against its
// max_output_tokens (400 max_output_tokens_exceeded), with the cap added to a body
// that asks for none. A session without limits costs one check.
//
// A body is read only when the session limits models or output tokens, or
// counts tokens on an API whose answers report usage (metering.go), at most
// maxBody bytes (chat.max_body_bytes; zero: [DefaultChatMaxBodyBytes]), into one
// buffer of its Content-Length, and decoded only at its top level; what is
// forwarded is that buffer, with the cap member spliced in, so every other byte
// reaches the upstream unchanged. With inject (an upstream answers, not the
// echo backend), a streamed chat completion of a session that counts tokens is
// also made to ask for its usage chunk ([injectStreamUsage]). What the step
// learns (the model, the body's length) is noted for counting and the access
// line.
func enforceLimits(maxBody int64, inject bool) gin.HandlerFunc {
	if maxBody <= 0 {
		maxBody = DefaultChatMaxBodyBytes
	}
	scanners := &sync.Pool{New: func() any { return &bodyScanner{dec: jsontext.NewDecoder(http.NoBody)} }}
	return func(c *gin.Context) {
		claims, ok := token.FromContext(c.Request.Context())
		if !ok {
			return // no verified session: the chat handler refuses the request
		}
		lim := claims.Limits
		if lim.IsZero() {
			return
		}
		rest := c.Param("path")
		if rest == "" {
			rest = "/"
		}
		// An unclean path never matches: the proxy would refuse it anyway, and a
		// prefix must not be met by "/chat/completions/../../files".
		if lim.RestrictsPaths() && (!validRest(rest) || !lim.AllowsPath(rest)) {
			respondError(c, pathNotAllowed(lim))
			return
		}
		// A session that counts tokens has its body read on the APIs whose
		// answers report usage: for the model, and to ask a stream for its usage.
		surface := usage.SurfaceOf(rest)
		counting := meterLimits(lim).CountsTokens() && surface != usage.SurfaceUnknown
		if !lim.RestrictsModels() && lim.MaxOutputTokens() == 0 && !counting {
			return
		}
		b := bodyStep{lim: lim, rest: rest, maxBody: maxBody, scanners: scanners,
			inject: inject && counting && surface == usage.SurfaceChatCompletions,
			note:   chatUsageOf(c.Request.Context())}
		if e := limitBody(c, &b); e != nil {
			respondError(c, e)
		}
	}
}

func pathNotAllowed(lim token.Limits) *apiError {
	paths := lim.Paths()
	for i, p := range paths {
		paths[i] = chatPrefix + p
	}
	return &apiError{status: http.StatusForbidden, code: codePathNotAllowed,
		desc: "this session may call only " + strings.Join(paths, ", ")}
}

func modelNotAllowed(lim token.Limits) *apiError {
	return &apiError{status: http.StatusForbidden, code: codeModelNotAllowed,
		desc: "this session may use only the models " + strings.Join(lim.Models(), ", ")}
}

// bodyStep is what limitBody works with for one request.
type bodyStep struct {
	lim      token.Limits
	rest     string // the path after /chat
	maxBody  int64
	scanners *sync.Pool
	inject   bool       // a chat completion: ask it, if streamed, for its usage chunk
	note     *callUsage // where the model and the body's length are noted; nil: nowhere
}

// limitBody reads, checks and, where the cap must be added, rewrites c's request
// body, leaving c.Request ready to forward.
func limitBody(c *gin.Context, b *bodyStep) *apiError {
	lim, maxBody := b.lim, b.maxBody
	r := c.Request
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil // no body: not subject to models, and nothing to cap
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		// An upstream that inflates it would read members jwtgate never saw.
		return invalidRequest("a session with limits must send its request body uncompressed")
	}
	body, e := readBody(c.Writer, r, maxBody)
	if e != nil {
		return e
	}
	mb := &memBody{parts: [3][]byte{body}}
	setBody(r, mb)
	if b.note != nil {
		b.note.bodyLen = int64(len(body))
	}
	if len(body) == 0 {
		return nil // a chunked body of nothing: no body
	}
	i := skipJSONSpace(body)
	switch {
	case i == len(body):
		// White space alone: not JSON.
	case body[i] == '{':
		return limitObject(r, mb, b)
	case body[i] == '[' || body[i] == 0 || body[i] == 0xEF || body[i] == 0xFE || body[i] == 0xFF:
		// An array cannot be checked, and a leading NUL or byte-order mark is
		// JSON in UTF-16 or UTF-32, or UTF-8 with a BOM, that some servers
		// decode: either would carry a model or a cap past the check.
		return invalidRequest("with this session's limits the request body must be a JSON object in UTF-8")
	}
	// Not JSON (a multipart upload, say): forwarded as it is, unless the model
	// must be checked.
	if lim.RestrictsModels() {
		return invalidRequest("this session's limits need a JSON request body that names its model")
	}
	return nil
}

// readBody reads the whole request body, at most limit bytes: into one buffer of
// exactly its Content-Length when it has one, so that a large body is copied once.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *apiError) {
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	if r.ContentLength > 0 {
		buf := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return nil, invalidRequest("the request body could not be read")
		}
		return buf, nil
	}
	buf, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return nil, tooLarge(limit)
		}
		return nil, invalidRequest("the request body could not be read")
	}
	return buf, nil
}

// skipJSONSpace returns the index of the first byte of b that is not JSON white space.
func skipJSONSpace(b []byte) int {
	for i, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return i
		}
	}
	return len(b)
}

// bodyScan is what limitObject learns from the top level of a JSON object.
type bodyScan struct {
	members int   // top-level members
	closing int64 // offset of the closing brace
	model   jsontext.Value
	stream  jsontext.Value                     // nil: absent
	options bool                               // stream_options is present
	out     [len(outputMembers)]jsontext.Value // by outputMembers index; nil: absent
	outEnd  [len(outputMembers)]int64          // offset just past each value
}

// limitObject checks a body that starts as a JSON object. It is decoded strictly
// (duplicate names, invalid UTF-8 and trailing data refused): a body the check
// reads one way must not reach an upstream that reads it another.
func limitObject(r *http.Request, mb *memBody, b *bodyStep) *apiError {
	lim, rest := b.lim, b.rest
	body := mb.parts[0]
	sc := b.scanners.Get().(*bodyScanner)
	var s bodyScan
	err := sc.scan(body, &s)
	b.scanners.Put(sc)
	switch {
	case errors.Is(err, jsontext.ErrDuplicateName):
		return invalidRequest("the request body has a duplicate member")
	case err != nil:
		return invalidRequest("the request body is not valid JSON")
	}

	if lim.RestrictsModels() {
		switch s.model.Kind() {
		case 0:
			return invalidRequest("this session's limits need the request body to name its model")
		case '"':
		default:
			return invalidRequest("model must be a string")
		}
		model, err := jsontext.AppendUnquote(nil, s.model)
		if err != nil || !lim.AllowsModel(string(model)) {
			return modelNotAllowed(lim)
		}
		b.note.setModel(model)
	} else if s.model.Kind() == '"' && b.note != nil {
		if v := s.model[1 : len(s.model)-1]; bytes.IndexByte(v, '\\') < 0 {
			b.note.setModel(v) // no escapes: the bytes are the name
		} else if model, err := jsontext.AppendUnquote(nil, s.model); err == nil {
			b.note.setModel(model)
		}
	}

	if e := capOutput(r, mb, lim, rest, &s); e != nil {
		return e
	}
	if b.inject && string(s.stream) == "true" {
		b.note.setInjected(injectStreamUsage(r, mb, &s))
	}
	return nil
}

// capOutput checks the output-token members of a scanned body against the
// session's max_output_tokens and, for a body that asks for none, splices in
// the cap.
func capOutput(r *http.Request, mb *memBody, lim token.Limits, rest string, s *bodyScan) *apiError {
	body := mb.parts[0]
	maxOut := lim.MaxOutputTokens()
	if maxOut == 0 {
		return nil
	}
	for i, v := range s.out {
		if v == nil || v.Kind() == 'n' {
			continue
		}
		if e := checkOutputTokens(outputMembers[i], v, maxOut); e != nil {
			return e
		}
	}
	member, asked := capMember(rest, s)
	if member < 0 || asked {
		return nil
	}
	if v := s.out[member]; v != nil { // null: the value is replaced
		end := int(s.outEnd[member])
		mb.parts = [3][]byte{body[:end-len(v)], strconv.AppendInt(mb.spare[:0], maxOut, 10), body[end:]}
		setBody(r, mb)
		return nil
	}
	add := mb.spare[:0] // `,"max_completion_tokens":` and 13 digits fit
	if s.members > 0 {
		add = append(add, ',')
	}
	add = append(add, '"')
	add = append(add, outputMembers[member]...)
	add = append(add, `":`...)
	add = strconv.AppendInt(add, maxOut, 10)
	mb.parts = [3][]byte{body[:s.closing], add, body[s.closing:]}
	setBody(r, mb)
	return nil
}

// bodyScanner is a decoder and its input, pooled: they are the costly part of
// a scan.
type bodyScanner struct {
	dec *jsontext.Decoder
	in  bytes.Buffer
}

// scan reads the top level of the object in body into s, skipping every value
// but the model and the output-token members. It keeps no reference to body.
func (sc *bodyScanner) scan(body []byte, s *bodyScan) error {
	sc.in = *bytes.NewBuffer(body) // a bytes.Buffer is read in place, not copied
	defer func() {
		sc.dec.Reset(http.NoBody)
		sc.in = bytes.Buffer{}
	}()
	dec := sc.dec
	dec.Reset(&sc.in)
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	var unquoted [32]byte
	for dec.PeekKind() != '}' {
		name, err := dec.ReadValue()
		if err != nil {
			return err
		}
		s.members++
		n := name[1 : len(name)-1]
		if bytes.IndexByte(n, '\\') >= 0 { // "mod\u0065l" is the model too
			if n, err = jsontext.AppendUnquote(unquoted[:0], name); err != nil {
				return err
			}
		}
		slot := -1
		switch string(n) {
		case "stream_options":
			s.options = true
			if err := dec.SkipValue(); err != nil {
				return err
			}
			continue
		case "model", "stream":
			v, err := dec.ReadValue()
			if err != nil {
				return err
			}
			if n[0] == 'm' {
				s.model = v
			} else {
				s.stream = v
			}
			continue
		case memberMaxTokens:
			slot = 0
		case memberMaxCompletionTokens:
			slot = 1
		case memberMaxOutputTokens:
			slot = 2
		default:
			if err := dec.SkipValue(); err != nil {
				return err
			}
			continue
		}
		v, err := dec.ReadValue()
		if err != nil {
			return err
		}
		s.out[slot], s.outEnd[slot] = v, dec.InputOffset()
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	s.closing = dec.InputOffset() - 1
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON object")
	}
	return nil
}

// checkOutputTokens checks one output-token member against the session's cap.
// Anything but a whole number from 1 to the cap is refused: a string, 0 or a
// negative number means "no limit" or "the default" to some servers.
func checkOutputTokens(name string, v jsontext.Value, maxOut int64) *apiError {
	if v.Kind() != '0' {
		return invalidRequest(name + " must be a number")
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if f > float64(maxOut) { // 1e999 is out of range, and far over
		return &apiError{status: http.StatusBadRequest, code: codeMaxOutputTokensExceeded,
			desc: name + " asks for more output tokens than this session allows (at most " + strconv.FormatInt(maxOut, 10) + ")"}
	}
	if err != nil || f < 1 || f != math.Trunc(f) {
		return invalidRequest(name + " must be a whole number of tokens, at least 1")
	}
	return nil
}

// capMember returns the index in outputMembers of the member the API at rest
// reads its cap from (-1: none known, nothing is added), and whether the body
// already asks for a cap that API reads.
func capMember(rest string, s *bodyScan) (int, bool) {
	given := func(i int) bool { return s.out[i] != nil && s.out[i].Kind() != 'n' }
	switch {
	case strings.HasSuffix(rest, "/chat/completions"):
		return 1, given(1) || given(0) // max_tokens is still read there
	case strings.HasSuffix(rest, "/responses"):
		return 2, given(2)
	case strings.HasSuffix(rest, "/messages"):
		return 0, given(0)
	}
	return -1, false
}

// setBody makes b the body of r, with its length.
func setBody(r *http.Request, b *memBody) {
	n := b.Len()
	if r.ContentLength != n {
		// The proxy's transport writes Content-Length from r.ContentLength and
		// never from the header, which would be stale.
		r.ContentLength = n
		r.Header.Del("Content-Length")
	}
	r.TransferEncoding = nil
	r.Body = b
}

// memBody is a request body held in memory as up to three parts, so that a
// member is spliced in without copying the body around it.
type memBody struct {
	parts [3][]byte
	i     int
	spare [96]byte // holds the spliced members: the cap and stream_options
}

// Len returns the bytes left to read.
func (b *memBody) Len() int64 {
	var n int64
	for _, p := range b.parts[b.i:] {
		n += int64(len(p))
	}
	return n
}

// Read fills p from as many parts as fit: a caller that writes each Read out
// (a TCP connection's ReadFrom does) then sends the spliced body in one piece.
func (b *memBody) Read(p []byte) (int, error) {
	n := 0
	for ; b.i < len(b.parts) && n < len(p); b.i++ {
		c := copy(p[n:], b.parts[b.i])
		n += c
		if b.parts[b.i] = b.parts[b.i][c:]; len(b.parts[b.i]) > 0 {
			break
		}
	}
	if n == 0 && b.i == len(b.parts) {
		return 0, io.EOF
	}
	return n, nil
}

// WriteTo writes the parts straight to w, with no intermediate buffer.
func (b *memBody) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for ; b.i < len(b.parts); b.i++ {
		n, err := w.Write(b.parts[b.i])
		total += int64(n)
		b.parts[b.i] = b.parts[b.i][n:]
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Close implements io.Closer; the inbound body is closed by the server.
func (b *memBody) Close() error { return nil }
