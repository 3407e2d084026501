package token

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Bounds on [Limits], chosen so that a token stays well under [MaxTokenSize]: at
// most 16 patterns of 64 bytes in each list and seven numbers make about 2.4 KiB of
// JSON, 3.2 KiB once base64url-encoded in the payload. With the largest API key
// (sealed) and subject the rest of a token is about 2 KiB, and an RSA-8192
// signature 1.4 KiB: 6.6 KiB in all.
const (
	// MaxLimitPatterns is the most entries Limits' models or paths may hold.
	MaxLimitPatterns = 16
	// MaxLimitPatternLen is the longest model pattern or path prefix, in bytes.
	MaxLimitPatternLen = 64
	// MaxLimitValue is the largest number a limit may be (10^12: exact in a
	// JavaScript number, and far beyond any real budget).
	MaxLimitValue = 1_000_000_000_000
)

// LimitSpec is the plain form of [Limits], as configuration or code gives it.
// A zero number or an empty list means "no limit" for that member.
type LimitSpec struct {
	// Models are the allowed values of a request's "model": an exact name, or a
	// prefix ending in "*" ("claude-*"). The "*" may appear only at the end.
	Models []string
	// Paths are the allowed paths after /chat, as prefixes matched on segment
	// boundaries ("/chat/completions" allows "/chat/completions" and
	// "/chat/completions/x", not "/chat/completionsx"). See [CheckPathPrefix].
	Paths []string
	// MaxOutputTokens caps the output tokens one request may ask for.
	MaxOutputTokens int64
	// RequestsPerMinute limits the session's requests per minute. This and the
	// three members below are counted per session elsewhere; this package only
	// checks and carries them.
	RequestsPerMinute int64
	// TokensPerMinute limits the tokens (input and output) a session uses per minute.
	TokensPerMinute int64
	// TotalTokens is the session's token budget over its whole life, refreshes included.
	TotalTokens int64
	// ConcurrentRequests limits the session's requests in flight.
	ConcurrentRequests int64
}

// Limits are what a session may do, signed into its token (claim "lim"). The zero
// value is no limit at all. A Limits is immutable: build one with [NewLimits] or
// [ParseLimits]; every accessor returns copies.
type Limits struct {
	models []string // as given: "gpt-4o-mini", "claude-*"
	paths  []string // clean, without a trailing slash
	nums   [numLimits]int64
}

// The numeric members, in the order of the JSON encoding.
const (
	limMaxOutputTokens = iota
	limRequestsPerMinute
	limTokensPerMinute
	limTotalTokens
	limConcurrentRequests
	numLimits
)

var numNames = [numLimits]string{
	"max_output_tokens", "requests_per_minute", "tokens_per_minute", "total_tokens", "concurrent_requests",
}

// limitMembers lists every member, for the unknown-member message.
const limitMembers = "models, paths, max_output_tokens, requests_per_minute, tokens_per_minute, total_tokens, concurrent_requests"

// LimitError is a malformed limit, or one beyond a ceiling. It unwraps to
// [ErrLimitsInvalid] or [ErrLimitAboveCeiling]. Its text never quotes the value.
type LimitError struct {
	// Member names the member in the JSON form ("models[2]", "max_output_tokens"),
	// or is empty when the problem is the whole value.
	Member string
	// Reason says what is wrong.
	Reason string
	// Err is ErrLimitsInvalid or ErrLimitAboveCeiling.
	Err error
}

// Error returns "member: reason", or the reason alone.
func (e *LimitError) Error() string {
	if e.Member == "" {
		return e.Reason
	}
	return e.Member + ": " + e.Reason
}

// Unwrap returns e.Err.
func (e *LimitError) Unwrap() error { return e.Err }

func invalidLimit(member, format string, args ...any) *LimitError {
	return &LimitError{Member: member, Reason: fmt.Sprintf(format, args...), Err: ErrLimitsInvalid}
}

// NewLimits checks s and returns it as Limits. Every problem is reported, each a
// *[LimitError] in the joined error. Negative numbers, numbers over
// [MaxLimitValue], malformed patterns (see [CheckModelPattern] and
// [CheckPathPrefix]), repeated entries and lists over [MaxLimitPatterns] are
// refused; paths lose a trailing slash.
func NewLimits(s LimitSpec) (Limits, error) {
	var (
		l    Limits
		errs []error
	)
	l.models, errs = checkList(errs, "models", s.Models, CheckModelPattern)
	l.paths, errs = checkList(errs, "paths", s.Paths, CheckPathPrefix)
	for i, n := range [numLimits]int64{s.MaxOutputTokens, s.RequestsPerMinute, s.TokensPerMinute, s.TotalTokens, s.ConcurrentRequests} {
		if n < 0 || n > MaxLimitValue {
			errs = append(errs, invalidLimit(numNames[i], "must be a whole number from 1 to %d", int64(MaxLimitValue)))
			continue
		}
		l.nums[i] = n
	}
	if err := errors.Join(errs...); err != nil {
		return Limits{}, err
	}
	return l, nil
}

func checkList(errs []error, member string, in []string, check func(string) (string, error)) ([]string, []error) {
	if len(in) == 0 {
		return nil, errs
	}
	if len(in) > MaxLimitPatterns {
		return nil, append(errs, invalidLimit(member, "must have at most %d entries", MaxLimitPatterns))
	}
	out := make([]string, 0, len(in))
	for i, p := range in {
		name := member + "[" + strconv.Itoa(i) + "]"
		if len(p) > MaxLimitPatternLen {
			errs = append(errs, invalidLimit(name, "must be at most %d bytes", MaxLimitPatternLen))
			continue
		}
		c, err := check(p)
		if err != nil {
			errs = append(errs, invalidLimit(name, "%s", err.Error()))
			continue
		}
		if j := indexOf(out, c); j >= 0 {
			errs = append(errs, invalidLimit(name, "repeats %s[%d]", member, j))
			continue
		}
		out = append(out, c)
	}
	return out, errs
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// CheckModelPattern checks one entry of Limits' models and returns it: 1 to
// [MaxLimitPatternLen] printable ASCII characters without spaces, with "*" only
// as the last one (a prefix pattern; "*" alone allows any model).
func CheckModelPattern(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("must not be empty")
	case len(p) > MaxLimitPatternLen:
		return "", fmt.Errorf("must be at most %d bytes", MaxLimitPatternLen)
	case !printableASCII(p):
		return "", errors.New("must be printable ASCII without spaces")
	case strings.IndexByte(p[:len(p)-1], '*') >= 0:
		return "", errors.New("may hold * only at its end (a prefix pattern)")
	}
	return p, nil
}

// CheckPathPrefix checks a path prefix, of Limits' paths or of a proxy's list of
// allowed paths, and returns its canonical form: one trailing slash is dropped
// ("/v1/" is "/v1"). A prefix must be absolute and clean (no empty, "." or ".."
// segments, nor segments of dots alone), printable ASCII without spaces, and
// hold no "%", "\", "*", "?" or "#": it is compared with decoded request paths
// as it is, so anything a server could read in two ways is refused.
func CheckPathPrefix(p string) (string, error) {
	unclean := strings.Contains(p, "//")
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	switch {
	case p == "" || p[0] != '/':
		return "", errors.New("must be an absolute path (starting with /)")
	case !printableASCII(p) || strings.ContainsAny(p, `%\*?#`):
		return "", errors.New(`must be printable ASCII without spaces, %, \, *, ? or #`)
	case unclean || path.Clean(p) != p || dotSegment(p):
		return "", errors.New("must be a clean path (no empty, . or .. segments)")
	}
	return p, nil
}

// dotSegment reports whether a segment of p is made of dots alone ("...").
func dotSegment(p string) bool {
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg != "" && strings.Trim(seg, ".") == "" {
			return true
		}
	}
	return false
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// HasPathPrefix reports whether p is prefix or lies under it, on a segment
// boundary: "/v1" matches "/v1" and "/v1/x", not "/v1x"; "/" matches every
// absolute path. prefix is in the form [CheckPathPrefix] returns.
func HasPathPrefix(p, prefix string) bool {
	if prefix == "/" {
		return strings.HasPrefix(p, "/")
	}
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	return len(p) == len(prefix) || p[len(prefix)] == '/'
}

// ParseLimits decodes and checks limits in their JSON form, the "limits" member of
// POST /sessions and the "lim" claim: an object with the members models, paths
// (arrays of strings), max_output_tokens, requests_per_minute, tokens_per_minute,
// total_tokens and concurrent_requests (whole numbers from 1 to [MaxLimitValue]).
// Every member is optional and null is the same as absent; unknown or repeated
// members, an empty list and 0 are refused, since each would read as "no limit"
// while asking for something else. The first problem is returned as a
// *[LimitError].
func ParseLimits(data []byte) (Limits, error) {
	var w struct {
		Models             []string `json:"models"`
		Paths              []string `json:"paths"`
		MaxOutputTokens    *int64   `json:"max_output_tokens"`
		RequestsPerMinute  *int64   `json:"requests_per_minute"`
		TokensPerMinute    *int64   `json:"tokens_per_minute"`
		TotalTokens        *int64   `json:"total_tokens"`
		ConcurrentRequests *int64   `json:"concurrent_requests"`
	}
	if k := jsontext.Value(data).Kind(); k != '{' {
		return Limits{}, invalidLimit("", "must be a JSON object")
	}
	if err := json.Unmarshal(data, &w, json.RejectUnknownMembers(true)); err != nil {
		return Limits{}, describeLimitsError(err)
	}
	for _, l := range []struct {
		name string
		list []string
	}{{"models", w.Models}, {"paths", w.Paths}} {
		if l.list != nil && len(l.list) == 0 {
			return Limits{}, invalidLimit(l.name, "must not be empty (leave it out for no limit)")
		}
	}
	s := LimitSpec{Models: w.Models, Paths: w.Paths}
	for i, p := range [numLimits]*int64{w.MaxOutputTokens, w.RequestsPerMinute, w.TokensPerMinute, w.TotalTokens, w.ConcurrentRequests} {
		if p != nil && *p < 1 {
			return Limits{}, invalidLimit(numNames[i], "must be a whole number from 1 to %d (leave it out for no limit)", int64(MaxLimitValue))
		}
	}
	s.MaxOutputTokens = deref(w.MaxOutputTokens)
	s.RequestsPerMinute = deref(w.RequestsPerMinute)
	s.TokensPerMinute = deref(w.TokensPerMinute)
	s.TotalTokens = deref(w.TotalTokens)
	s.ConcurrentRequests = deref(w.ConcurrentRequests)
	l, err := NewLimits(s)
	if err != nil {
		var le *LimitError
		if errors.As(err, &le) { // the first one
			return Limits{}, le
		}
		return Limits{}, err
	}
	return l, nil
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// describeLimitsError turns a decoding error into a LimitError naming the member
// by its JSON pointer; the decoder's own text, which can quote input, is dropped.
func describeLimitsError(err error) *LimitError {
	switch {
	case errors.Is(err, jsontext.ErrDuplicateName):
		return invalidLimit("", "has a repeated member")
	case errors.Is(err, json.ErrUnknownName):
		return invalidLimit("", "has an unknown member; accepted: %s", limitMembers)
	}
	var se *json.SemanticError
	if !errors.As(err, &se) || se.JSONPointer == "" {
		return invalidLimit("", "must be a JSON object")
	}
	name, index, _ := strings.Cut(strings.TrimPrefix(string(se.JSONPointer), "/"), "/")
	switch name {
	case "models", "paths":
		if _, err := strconv.Atoi(index); err == nil && len(index) < 4 {
			return invalidLimit(name+"["+index+"]", "must be a string")
		}
		return invalidLimit(name, "must be a list of strings")
	}
	for _, n := range numNames {
		if n == name {
			return invalidLimit(name, "must be a whole number from 1 to %d", int64(MaxLimitValue))
		}
	}
	return invalidLimit("", "must be a JSON object of the accepted members: %s", limitMembers)
}

// IsZero reports whether l limits nothing.
func (l Limits) IsZero() bool {
	return l.models == nil && l.paths == nil && l.nums == [numLimits]int64{}
}

// Spec returns l in its plain form (fresh slices).
func (l Limits) Spec() LimitSpec {
	return LimitSpec{
		Models:             l.Models(),
		Paths:              l.Paths(),
		MaxOutputTokens:    l.nums[limMaxOutputTokens],
		RequestsPerMinute:  l.nums[limRequestsPerMinute],
		TokensPerMinute:    l.nums[limTokensPerMinute],
		TotalTokens:        l.nums[limTotalTokens],
		ConcurrentRequests: l.nums[limConcurrentRequests],
	}
}

// Models returns a copy of the allowed model patterns; nil means any model.
func (l Limits) Models() []string { return cloneList(l.models) }

// Paths returns a copy of the allowed path prefixes; nil means any path.
func (l Limits) Paths() []string { return cloneList(l.paths) }

func cloneList(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

// MaxOutputTokens returns the cap on output tokens per request (0: none).
func (l Limits) MaxOutputTokens() int64 { return l.nums[limMaxOutputTokens] }

// RequestsPerMinute returns the session's request rate limit (0: none).
func (l Limits) RequestsPerMinute() int64 { return l.nums[limRequestsPerMinute] }

// TokensPerMinute returns the session's token rate limit (0: none).
func (l Limits) TokensPerMinute() int64 { return l.nums[limTokensPerMinute] }

// TotalTokens returns the session's token budget over its whole life (0: none).
func (l Limits) TotalTokens() int64 { return l.nums[limTotalTokens] }

// ConcurrentRequests returns how many requests the session may have in flight (0: any).
func (l Limits) ConcurrentRequests() int64 { return l.nums[limConcurrentRequests] }

// RestrictsModels reports whether l names allowed models.
func (l Limits) RestrictsModels() bool { return l.models != nil }

// RestrictsPaths reports whether l names allowed paths.
func (l Limits) RestrictsPaths() bool { return l.paths != nil }

// AllowsModel reports whether model matches one of l's patterns (always true
// when l restricts no models). Matching is exact and case-sensitive; a pattern
// ending in "*" matches every model that starts with the rest.
func (l Limits) AllowsModel(model string) bool {
	if l.models == nil {
		return true
	}
	for _, p := range l.models {
		if matchModel(p, model) {
			return true
		}
	}
	return false
}

func matchModel(pattern, model string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(model, prefix)
	}
	return model == pattern
}

// AllowsPath reports whether p, a request path after /chat, lies under one of l's
// prefixes (always true when l restricts no paths); see [HasPathPrefix].
func (l Limits) AllowsPath(p string) bool {
	if l.paths == nil {
		return true
	}
	for _, prefix := range l.paths {
		if HasPathPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// Within reports whether l asks for no more than ceiling allows, member by
// member: no larger number, and every model pattern and path prefix covered by
// one of the ceiling's (a pattern is covered when everything it matches, the
// ceiling's pattern matches too). A member the ceiling leaves open is not
// checked. Every excess is reported, each a *[LimitError] wrapping
// [ErrLimitAboveCeiling], in the joined error.
func (l Limits) Within(ceiling Limits) error {
	var errs []error
	above := func(member, format string, args ...any) {
		errs = append(errs, &LimitError{Member: member, Reason: fmt.Sprintf(format, args...), Err: ErrLimitAboveCeiling})
	}
	if ceiling.models != nil {
		for i, m := range l.models {
			if !coveredModel(m, ceiling.models) {
				above("models["+strconv.Itoa(i)+"]", "is outside the models allowed here")
			}
		}
	}
	if ceiling.paths != nil {
		for i, p := range l.paths {
			if !coveredPath(p, ceiling.paths) {
				above("paths["+strconv.Itoa(i)+"]", "is outside the paths allowed here")
			}
		}
	}
	for i, n := range l.nums {
		if c := ceiling.nums[i]; c > 0 && n > c {
			above(numNames[i], "must be at most %d here", c)
		}
	}
	return errors.Join(errs...)
}

// coveredModel reports whether every model that pattern p matches is matched by
// one of ceiling's patterns.
func coveredModel(p string, ceiling []string) bool {
	for _, c := range ceiling {
		cPrefix, cIsPrefix := strings.CutSuffix(c, "*")
		if !cIsPrefix {
			if p == c {
				return true
			}
			continue
		}
		// p, exact or a prefix itself, starts with the ceiling's prefix: all it
		// matches starts with it too.
		if strings.HasPrefix(strings.TrimSuffix(p, "*"), cPrefix) {
			return true
		}
	}
	return false
}

func coveredPath(p string, ceiling []string) bool {
	for _, c := range ceiling {
		if HasPathPrefix(p, c) {
			return true
		}
	}
	return false
}

// Or returns l with each member it leaves open taken from fallback.
func (l Limits) Or(fallback Limits) Limits {
	if l.models == nil {
		l.models = fallback.models
	}
	if l.paths == nil {
		l.paths = fallback.paths
	}
	for i, n := range l.nums {
		if n == 0 {
			l.nums[i] = fallback.nums[i]
		}
	}
	return l
}

// ResolveLimits returns the limits a new session gets, member by member: the
// asked value, else the default, else the ceiling, else none. Asking beyond the
// ceiling is an error (see [Limits.Within]); the default is not checked here, so
// check def.Within(ceiling) where both are configured.
func ResolveLimits(asked, def, ceiling Limits) (Limits, error) {
	if err := asked.Within(ceiling); err != nil {
		return Limits{}, err
	}
	return asked.Or(def).Or(ceiling), nil
}

// AppendJSON appends l's compact JSON form, members in a fixed order and absent
// ones left out ("{}" for no limits), as json.Marshal would encode it. It never
// fails: patterns are printable ASCII.
func (l Limits) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	first := true
	member := func(name string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":`...)
	}
	for _, list := range []struct {
		name string
		v    []string
	}{{"models", l.models}, {"paths", l.paths}} {
		if list.v == nil {
			continue
		}
		member(list.name)
		b = append(b, '[')
		for i, s := range list.v {
			if i > 0 {
				b = append(b, ',')
			}
			b, _ = jsontext.AppendQuote(b, s) // printable ASCII: cannot fail
		}
		b = append(b, ']')
	}
	for i, n := range l.nums {
		if n != 0 {
			member(numNames[i])
			b = strconv.AppendInt(b, n, 10)
		}
	}
	return append(b, '}')
}

// MarshalJSON returns [Limits.AppendJSON].
func (l Limits) MarshalJSON() ([]byte, error) { return l.AppendJSON(nil), nil }

// String returns the JSON form.
func (l Limits) String() string { return string(l.AppendJSON(nil)) }
