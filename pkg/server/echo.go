package server

import (
	"crypto/rand"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The built-in echo backend answers /chat/* when no chat.upstream_url is set, in
// the layout the vendors' SDKs call with base URL http://<jwtgate>/chat, so that
// they run against it unchanged (DESIGN.md, "SDK base URL"):
//
//	POST /chat/chat/completions  OpenAI chat completions   echo_openai_chat.go
//	POST /chat/completions       the same (older alias)
//	GET  /chat/models            OpenAI model list          echo_openai_models.go
//	GET  /chat/models/{id}       one OpenAI model
//	POST /chat/responses         OpenAI Responses           echo_responses.go
//	POST /chat/v1/messages       Anthropic Messages         echo_anthropic.go
//
// Each reply is the text of the request's last user message, cut to the
// request's output-token limit when it sets one, streamed one word per event
// (with chat.echo_delay between words) when the request asks for a stream.
//
// Token counts are words, so that tests and users can predict them: a word is a
// run of non-space characters (what strings.Fields splits out). Input tokens are
// the words of every text the request carries as conversation (every message of
// any role, and the Messages "system" or the Responses "instructions"); output
// tokens are the words of the reply. The same conversation sent to any of the
// three surfaces gets the same usage.

// echoModel is the model named in echo replies when the request names none, and
// the one model the echo lists.
const echoModel = "jwtgate-echo"

// DefaultChatMaxBodyBytes bounds echo request bodies when ChatConfig.MaxBodyBytes
// is zero.
const DefaultChatMaxBodyBytes = 1 << 20

// echoRoutesText names what the echo answers, for the 404 of any other path.
const echoRoutesText = "the built-in echo backend answers POST /chat/chat/completions (also POST /chat/completions), " +
	"GET /chat/models, GET /chat/models/{id}, POST /chat/responses and POST /chat/v1/messages"

// echoRoute is one path of the echo backend: the method it answers, how, and
// its name in messages (the path as the client wrote it, a template for
// /models/{id}: a client's own path is never repeated back).
type echoRoute struct {
	method string
	handle gin.HandlerFunc
	name   string
}

// echoBackend holds everything the echo handlers need, built once by
// [handleEcho].
type echoBackend struct {
	logger    *slog.Logger
	delay     time.Duration // between streamed words
	idle      time.Duration // bound on each write to the client; zero: none
	maxStream time.Duration // longest stream; zero: unbounded
	created   int64         // the echo model's "created", the time the backend was built
	models    []byte        // the GET /models body, encoded once

	routes map[string]echoRoute // by the path after /chat
	model  echoRoute            // GET /models/{id}

	chatSpec      bodySpec
	responsesSpec bodySpec
	messagesSpec  bodySpec
}

// handleEcho returns the built-in chat backend used when no upstream is
// configured (see the list above). It never sees more of the session than the
// request itself: the API key is not part of any reply.
//
// Streams obey the proxy's limits: a stream ends at cfg.MaxStreamDuration
// (aborted, as the proxy aborts a cut stream, so a client can tell it from a
// finished one), and every write to the client must complete within
// cfg.IdleTimeout, so a client that stops reading cannot hold a stream open.
func handleEcho(cfg ChatConfig, logger *slog.Logger) gin.HandlerFunc {
	return newEchoBackend(cfg, logger).serve
}

func newEchoBackend(cfg ChatConfig, logger *slog.Logger) *echoBackend {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	limit := cfg.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultChatMaxBodyBytes // the echo reads bodies into memory: always bounded
	}
	e := &echoBackend{
		logger:    logger,
		delay:     cfg.EchoDelay,
		idle:      max(cfg.IdleTimeout, 0),
		maxStream: max(cfg.MaxStreamDuration, 0),
		created:   time.Now().Unix(),

		chatSpec:      chatCompletionsSpec(limit),
		responsesSpec: responsesSpec(limit),
		messagesSpec:  anthropicMessagesSpec(limit),
	}
	e.models = e.modelList()
	e.routes = map[string]echoRoute{
		"/chat/completions": {http.MethodPost, e.handleChatCompletions, "/chat/chat/completions"},
		"/completions":      {http.MethodPost, e.handleChatCompletions, "/chat/completions"},
		"/models":           {http.MethodGet, e.handleModels, "/chat/models"},
		"/responses":        {http.MethodPost, e.handleResponses, "/chat/responses"},
		"/v1/messages":      {http.MethodPost, e.handleMessages, "/chat/v1/messages"},
	}
	e.model = echoRoute{http.MethodGet, e.handleModel, "/chat/models/{id}"}
	return e
}

// serve routes one request by the path after /chat.
func (e *echoBackend) serve(c *gin.Context) {
	rest := c.Param("path")
	rt, ok := e.routes[rest]
	if !ok {
		if _, isModel := modelID(rest); !isModel {
			respondError(c, &apiError{status: http.StatusNotFound, code: codeNotFound, desc: echoRoutesText})
			return
		}
		rt = e.model
	}
	if c.Request.Method != rt.method {
		c.Header("Allow", rt.method)
		respondError(c, &apiError{status: http.StatusMethodNotAllowed, code: codeMethodNotAllowed,
			desc: "the built-in echo backend answers " + rt.name + " only with " + rt.method})
		return
	}
	rt.handle(c)
}

// decodeEchoBody reads the request's JSON body into v with spec; a missing body is
// refused, since every echo POST needs one.
func decodeEchoBody(c *gin.Context, spec bodySpec, v any) bool {
	hasBody, e := decodeBody(c, spec, v)
	if e == nil && !hasBody {
		e = invalidRequest("a JSON request body is required")
	}
	if e != nil {
		respondError(c, e)
		return false
	}
	return true
}

// reply writes v, a whole (not streamed) echo answer, as JSON with status 200,
// within the write deadline.
func (e *echoBackend) reply(c *gin.Context, v any) {
	newWriteDeadline(c.Writer, e.idle).renew()
	respondJSON(c, http.StatusOK, v)
}

// echoReply is what every surface answers: the text, cut to the output limit,
// in pieces of one word each, and the token counts.
type echoReply struct {
	text      string
	pieces    []string
	input     int  // words of the conversation
	output    int  // words of text
	truncated bool // cut at the request's output-token limit
}

// newEchoReply builds the reply to userText for a conversation of input words.
// limit, when not nil, is the request's output-token limit (at least 1).
func newEchoReply(userText string, input int, limit *int) echoReply {
	r := echoReply{text: userText, pieces: splitWords(userText), input: input, output: countWords(userText)}
	if limit != nil && r.output > *limit {
		// Each piece holds exactly one word when there are more words than the
		// limit (at least 1), so the first limit pieces are the first limit words.
		r.pieces = r.pieces[:*limit]
		r.text = strings.Join(r.pieces, "")
		r.output, r.truncated = *limit, true
	}
	return r
}

// positiveLimit checks an output-token limit of the request: absent (nil) or at
// least 1.
func positiveLimit(name string, v *int) *apiError {
	if v != nil && *v < 1 {
		return invalidRequest(name + " must be at least 1")
	}
	return nil
}

// newEchoID returns a random id with prefix ("chatcmpl-", "resp_", "msg_").
func newEchoID(prefix string) string {
	return prefix + rand.Text()
}

// textPart is the part of a content part or block the echo reads: its type and,
// for text parts, the text.
type textPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// contentText returns the text of message content: a string, null (or absent),
// or an array of parts, of which those whose type isText accepts are read and
// joined with "\n". It reports false for any other JSON value.
func contentText(v jsontext.Value, isText func(partType string) bool) (string, bool) {
	switch v.Kind() {
	case 0, 'n': // absent or null
		return "", true
	case '"':
		var s string
		return s, json.Unmarshal(v, &s) == nil
	case '[':
		var parts []textPart
		if json.Unmarshal(v, &parts) != nil {
			return "", false
		}
		var texts []string
		for _, p := range parts {
			if isText(p.Type) {
				texts = append(texts, p.Text)
			}
		}
		return strings.Join(texts, "\n"), true
	}
	return "", false
}

// countWords counts the runs of non-space characters in s, as strings.Fields
// splits them, without building the slice.
func countWords(s string) int {
	n := 0
	inWord := false
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		space := unicode.IsSpace(r)
		if !space && !inWord {
			n++
		}
		inWord = !space
		i += size
	}
	return n
}

// splitWords cuts text into pieces of leading white space and one word, the last
// piece keeping any trailing white space, so that the pieces joined are text.
// Text of white space alone is one piece.
func splitWords(text string) []string {
	var pieces []string
	start := 0
	inWord := false
	for i, r := range text {
		space := unicode.IsSpace(r)
		if space && inWord {
			// A word ended; the next piece starts with this space.
			pieces = append(pieces, text[start:i])
			start = i
		}
		inWord = !space
	}
	if start < len(text) {
		if len(pieces) > 0 && strings.TrimSpace(text[start:]) == "" {
			pieces[len(pieces)-1] += text[start:]
		} else {
			pieces = append(pieces, text[start:])
		}
	}
	return pieces
}
