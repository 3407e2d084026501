package token

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/google/go-cmp/cmp"
)

func mustLimits(t testing.TB, s LimitSpec) Limits {
	t.Helper()
	l, err := NewLimits(s)
	if err != nil {
		t.Fatalf("NewLimits(%+v): %v", s, err)
	}
	return l
}

func mustParseLimits(t testing.TB, js string) Limits {
	t.Helper()
	l, err := ParseLimits([]byte(js))
	if err != nil {
		t.Fatalf("ParseLimits(%s): %v", js, err)
	}
	return l
}

func TestParseLimits(t *testing.T) {
	long := strings.Repeat("m", MaxLimitPatternLen)
	many := `["a0","a1","a2","a3","a4","a5","a6","a7","a8","a9","b0","b1","b2","b3","b4","b5","b6"]`
	tests := []struct {
		name string
		in   string
		want LimitSpec
		// wantMember is the member the error names ("" with wantErr: the whole value).
		wantMember string
		wantErr    error
	}{
		{name: "empty object", in: `{}`},
		{name: "all members", in: `{"models":["gpt-4o-mini","claude-*"],"paths":["/chat/completions","/responses/"],"max_output_tokens":1024,
			"requests_per_minute":30,"tokens_per_minute":20000,"total_tokens":200000,"concurrent_requests":2}`,
			want: LimitSpec{Models: []string{"gpt-4o-mini", "claude-*"}, Paths: []string{"/chat/completions", "/responses"}, MaxOutputTokens: 1024,
				RequestsPerMinute: 30, TokensPerMinute: 20000, TotalTokens: 200000, ConcurrentRequests: 2}},
		{name: "null members are absent", in: `{"models":null,"max_output_tokens":null}`},
		{name: "star alone", in: `{"models":["*"]}`, want: LimitSpec{Models: []string{"*"}}},
		{name: "root path", in: `{"paths":["/"]}`, want: LimitSpec{Paths: []string{"/"}}},
		{name: "longest pattern", in: `{"models":["` + long + `"]}`, want: LimitSpec{Models: []string{long}}},
		{name: "largest number", in: `{"total_tokens":1000000000000}`, want: LimitSpec{TotalTokens: MaxLimitValue}},

		{name: "not an object", in: `[]`, wantErr: ErrLimitsInvalid},
		{name: "null", in: `null`, wantErr: ErrLimitsInvalid},
		{name: "not JSON", in: `{"models":`, wantErr: ErrLimitsInvalid},
		{name: "unknown member", in: `{"model":["x"]}`, wantErr: ErrLimitsInvalid},
		{name: "repeated member", in: `{"max_output_tokens":1,"max_output_tokens":2}`, wantErr: ErrLimitsInvalid},
		{name: "negative", in: `{"max_output_tokens":-1}`, wantMember: "max_output_tokens", wantErr: ErrLimitsInvalid},
		{name: "zero", in: `{"requests_per_minute":0}`, wantMember: "requests_per_minute", wantErr: ErrLimitsInvalid},
		{name: "fraction", in: `{"tokens_per_minute":1.5}`, wantMember: "tokens_per_minute", wantErr: ErrLimitsInvalid},
		{name: "string number", in: `{"total_tokens":"100"}`, wantMember: "total_tokens", wantErr: ErrLimitsInvalid},
		{name: "too large", in: `{"concurrent_requests":1000000000001}`, wantMember: "concurrent_requests", wantErr: ErrLimitsInvalid},
		{name: "models not a list", in: `{"models":"gpt-4o"}`, wantMember: "models", wantErr: ErrLimitsInvalid},
		{name: "model not a string", in: `{"models":["a",7]}`, wantMember: "models[1]", wantErr: ErrLimitsInvalid},
		{name: "empty list", in: `{"models":[]}`, wantMember: "models", wantErr: ErrLimitsInvalid},
		{name: "empty pattern", in: `{"models":["a",""]}`, wantMember: "models[1]", wantErr: ErrLimitsInvalid},
		{name: "star in the middle", in: `{"models":["gpt-*-mini"]}`, wantMember: "models[0]", wantErr: ErrLimitsInvalid},
		{name: "two stars", in: `{"models":["gpt**"]}`, wantMember: "models[0]", wantErr: ErrLimitsInvalid},
		{name: "space in a model", in: `{"models":["gpt 4"]}`, wantMember: "models[0]", wantErr: ErrLimitsInvalid},
		{name: "non-ASCII model", in: `{"models":["gpt-ö"]}`, wantMember: "models[0]", wantErr: ErrLimitsInvalid},
		{name: "pattern too long", in: `{"models":["` + long + `x"]}`, wantMember: "models[0]", wantErr: ErrLimitsInvalid},
		{name: "repeated pattern", in: `{"models":["a","b","a"]}`, wantMember: "models[2]", wantErr: ErrLimitsInvalid},
		{name: "too many patterns", in: `{"models":` + many + `}`, wantMember: "models", wantErr: ErrLimitsInvalid},
		{name: "relative path", in: `{"paths":["chat/completions"]}`, wantMember: "paths[0]", wantErr: ErrLimitsInvalid},
		{name: "dot-dot path", in: `{"paths":["/chat/../sessions"]}`, wantMember: "paths[0]", wantErr: ErrLimitsInvalid},
		{name: "dot path", in: `{"paths":["/./chat"]}`, wantMember: "paths[0]", wantErr: ErrLimitsInvalid},
		{name: "dots-only segment", in: `{"paths":["/.../x"]}`, wantMember: "paths[0]", wantErr: ErrLimitsInvalid},
		{name: "double slash", in: `{"paths":["/chat//completions"]}`, wantMember: "paths[0]", wantErr: ErrLimitsInvalid},
		{name: "double slash alone", in: `{"paths":["//"]}`, wantMember: "paths[0]", wantErr: ErrLimitsInvalid},
		{name: "encoded path", in: `{"paths":["/chat%2Fcompletions"]}`, wantMember: "paths[0]", wantErr: ErrLimitsInvalid},
		{name: "wildcard path", in: `{"paths":["/chat/*"]}`, wantMember: "paths[0]", wantErr: ErrLimitsInvalid},
		{name: "empty path", in: `{"paths":[""]}`, wantMember: "paths[0]", wantErr: ErrLimitsInvalid},
		{name: "same path twice", in: `{"paths":["/a","/a/"]}`, wantMember: "paths[1]", wantErr: ErrLimitsInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := ParseLimits([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseLimits(%s) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr != nil {
				var le *LimitError
				if !errors.As(err, &le) {
					t.Fatalf("error %v is not a *LimitError", err)
				}
				if le.Member != tt.wantMember {
					t.Errorf("error names member %q, want %q (%v)", le.Member, tt.wantMember, err)
				}
				return
			}
			if diff := cmp.Diff(tt.want, l.Spec()); diff != "" {
				t.Errorf("limits (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLimitErrorsNeverQuoteInput(t *testing.T) {
	const planted = "sk-planted-0123456789"
	for _, in := range []string{
		`{"models":["` + planted + ` *"]}`,
		`{"paths":["/` + planted + `/../x"]}`,
		`{"` + planted + `":1}`,
		`{"models":"` + planted + `"}`,
		`{"models":["a","` + planted + `"` + `,"a"]}`,
	} {
		_, err := ParseLimits([]byte(in))
		if err == nil || strings.Contains(err.Error(), "planted") {
			t.Errorf("ParseLimits(%s) = %v; want an error that does not quote the input", in, err)
		}
	}
}

func TestNewLimitsReportsEveryProblem(t *testing.T) {
	_, err := NewLimits(LimitSpec{Models: []string{"a*b", ""}, Paths: []string{"x"}, MaxOutputTokens: -1, TotalTokens: MaxLimitValue + 1})
	var members []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var le *LimitError
		if !errors.As(e, &le) || !errors.Is(e, ErrLimitsInvalid) {
			t.Fatalf("problem %v is not a *LimitError wrapping ErrLimitsInvalid", e)
		}
		members = append(members, le.Member)
	}
	want := []string{"models[0]", "models[1]", "paths[0]", "max_output_tokens", "total_tokens"}
	if diff := cmp.Diff(want, members); diff != "" {
		t.Errorf("members named (-want +got):\n%s", diff)
	}
	// Zero and empty mean "no limit" in the plain form (configuration leaves them so).
	if l := mustLimits(t, LimitSpec{Models: []string{}, MaxOutputTokens: 0}); !l.IsZero() {
		t.Errorf("NewLimits of empty values = %v, want no limits", l)
	}
}

func TestLimitsMatching(t *testing.T) {
	l := mustParseLimits(t, `{"models":["gpt-4o-mini","claude-*"],"paths":["/chat/completions","/v1/messages/"]}`)
	for _, tt := range []struct {
		model string
		want  bool
	}{
		{"gpt-4o-mini", true},
		{"gpt-4o-mini-2024-07-18", false},
		{"GPT-4o-mini", false},
		{"gpt-4o", false},
		{"claude-3-5-haiku", true},
		{"claude-", true},
		{"claude", false},
		{"", false},
	} {
		if got := l.AllowsModel(tt.model); got != tt.want {
			t.Errorf("AllowsModel(%q) = %v, want %v", tt.model, got, tt.want)
		}
	}
	for _, tt := range []struct {
		path string
		want bool
	}{
		{"/chat/completions", true},
		{"/chat/completions/", true},
		{"/chat/completions/x", true},
		{"/chat/completionsx", false},
		{"/chat", false},
		{"/v1/messages", true},
		{"/v1/messages/count_tokens", true},
		{"/v1/message", false},
		{"/responses", false},
		{"", false},
	} {
		if got := l.AllowsPath(tt.path); got != tt.want {
			t.Errorf("AllowsPath(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
	var open Limits
	if !open.AllowsModel("anything") || !open.AllowsPath("/anything") || open.RestrictsModels() || open.RestrictsPaths() {
		t.Errorf("zero Limits restricts something")
	}
	if !HasPathPrefix("/x", "/") || HasPathPrefix("x", "/") {
		t.Errorf(`HasPathPrefix with "/" matches other than absolute paths`)
	}
}

func TestLimitsAccessorsReturnCopies(t *testing.T) {
	l := mustParseLimits(t, `{"models":["a"],"paths":["/a"]}`)
	l.Models()[0] = "b"
	l.Spec().Paths[0] = "/b"
	if !l.AllowsModel("a") || l.AllowsModel("b") || !l.AllowsPath("/a") {
		t.Errorf("changing a returned slice changed the limits: %v", l)
	}
}

func TestLimitsWithinCeiling(t *testing.T) {
	ceiling := mustParseLimits(t, `{"models":["gpt-4o*","claude-3-5-haiku"],"paths":["/chat","/responses"],"max_output_tokens":2048,"total_tokens":100000}`)
	tests := []struct {
		name        string
		asked       string
		wantMembers []string
	}{
		{"nothing asked", `{}`, nil},
		{"equal", `{"models":["gpt-4o*","claude-3-5-haiku"],"paths":["/chat","/responses"],"max_output_tokens":2048,"total_tokens":100000}`, nil},
		{"narrower", `{"models":["gpt-4o-mini","gpt-4o-mini*"],"paths":["/chat/completions"],"max_output_tokens":100}`, nil},
		{"a member the ceiling leaves open", `{"requests_per_minute":1000000}`, nil},
		{"exact model outside", `{"models":["gpt-4o-mini","o1"]}`, []string{"models[1]"}},
		{"prefix wider than the ceiling's", `{"models":["gpt-*"]}`, []string{"models[0]"}},
		{"prefix over an exact ceiling", `{"models":["claude-3-5-haiku*"]}`, []string{"models[0]"}},
		{"star alone", `{"models":["*"]}`, []string{"models[0]"}},
		{"path outside", `{"paths":["/chat/completions","/files"]}`, []string{"paths[1]"}},
		{"path wider", `{"paths":["/"]}`, []string{"paths[0]"}},
		{"path not on a segment boundary", `{"paths":["/chatty"]}`, []string{"paths[0]"}},
		{"larger numbers", `{"max_output_tokens":2049,"total_tokens":100001}`, []string{"max_output_tokens", "total_tokens"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mustParseLimits(t, tt.asked).Within(ceiling)
			var members []string
			if err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var le *LimitError
					if !errors.As(e, &le) || !errors.Is(e, ErrLimitAboveCeiling) {
						t.Fatalf("problem %v is not a *LimitError wrapping ErrLimitAboveCeiling", e)
					}
					members = append(members, le.Member)
				}
			}
			if diff := cmp.Diff(tt.wantMembers, members); diff != "" {
				t.Errorf("members above the ceiling (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveLimitsPrecedence(t *testing.T) {
	def := mustParseLimits(t, `{"models":["gpt-4o-mini"],"max_output_tokens":512}`)
	ceiling := mustParseLimits(t, `{"models":["gpt-4o*"],"paths":["/chat"],"max_output_tokens":2048,"requests_per_minute":60}`)
	tests := []struct {
		name          string
		asked         string
		def, ceiling  Limits
		want          string // JSON form of the effective limits
		wantAboveCeil bool
	}{
		{name: "nothing configured, nothing asked", asked: `{}`, want: `{}`},
		{name: "nothing configured", asked: `{"max_output_tokens":99999}`, want: `{"max_output_tokens":99999}`},
		{name: "default, then ceiling", asked: `{}`, def: def, ceiling: ceiling,
			want: `{"models":["gpt-4o-mini"],"paths":["/chat"],"max_output_tokens":512,"requests_per_minute":60}`},
		{name: "asked beats default", asked: `{"models":["gpt-4o"],"max_output_tokens":1024}`, def: def, ceiling: ceiling,
			want: `{"models":["gpt-4o"],"paths":["/chat"],"max_output_tokens":1024,"requests_per_minute":60}`},
		{name: "asked below the ceiling", asked: `{"requests_per_minute":10,"paths":["/chat/completions"]}`, def: def, ceiling: ceiling,
			want: `{"models":["gpt-4o-mini"],"paths":["/chat/completions"],"max_output_tokens":512,"requests_per_minute":10}`},
		{name: "default alone", asked: `{}`, def: def, want: `{"models":["gpt-4o-mini"],"max_output_tokens":512}`},
		{name: "ceiling alone", asked: `{}`, ceiling: ceiling, want: `{"models":["gpt-4o*"],"paths":["/chat"],"max_output_tokens":2048,"requests_per_minute":60}`},
		{name: "asked above the ceiling", asked: `{"max_output_tokens":4096}`, def: def, ceiling: ceiling, wantAboveCeil: true},
		{name: "asked beyond the ceiling's models", asked: `{"models":["claude-*"]}`, def: def, ceiling: ceiling, wantAboveCeil: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveLimits(mustParseLimits(t, tt.asked), tt.def, tt.ceiling)
			if errors.Is(err, ErrLimitAboveCeiling) != tt.wantAboveCeil || (err != nil && !tt.wantAboveCeil) {
				t.Fatalf("ResolveLimits error = %v, want above ceiling: %v", err, tt.wantAboveCeil)
			}
			if err != nil {
				return
			}
			if got.String() != tt.want {
				t.Errorf("effective limits = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestLimitsAppendJSONMatchesMarshal checks the hand encoder against the
// reflective one, and that ParseLimits reads back what it writes.
func TestLimitsAppendJSONMatchesMarshal(t *testing.T) {
	type wire struct {
		Models             []string `json:"models,omitempty"`
		Paths              []string `json:"paths,omitempty"`
		MaxOutputTokens    int64    `json:"max_output_tokens,omitzero"`
		RequestsPerMinute  int64    `json:"requests_per_minute,omitzero"`
		TokensPerMinute    int64    `json:"tokens_per_minute,omitzero"`
		TotalTokens        int64    `json:"total_tokens,omitzero"`
		ConcurrentRequests int64    `json:"concurrent_requests,omitzero"`
	}
	for _, s := range []LimitSpec{
		{},
		{Models: []string{`quote"and\backslash`, "<html>&*"}},
		{Paths: []string{"/a", "/b/c"}, ConcurrentRequests: 1},
		{MaxOutputTokens: 1, RequestsPerMinute: 2, TokensPerMinute: 3, TotalTokens: MaxLimitValue, ConcurrentRequests: 5},
		{Models: []string{"m"}, Paths: []string{"/"}, MaxOutputTokens: 1024, TotalTokens: 7},
	} {
		l := mustLimits(t, s)
		want, err := json.Marshal(wire(l.Spec()))
		if err != nil {
			t.Fatal(err)
		}
		got := l.AppendJSON(nil)
		if string(got) != string(want) {
			t.Errorf("AppendJSON = %s\n   Marshal = %s", got, want)
		}
		back := mustParseLimits(t, string(got))
		if diff := cmp.Diff(l.Spec(), back.Spec()); diff != "" {
			t.Errorf("ParseLimits(AppendJSON) differs (-want +got):\n%s", diff)
		}
	}
}

func TestLimitsClaim(t *testing.T) {
	clk := newTestClock()
	k := mustHMACKey(t, "k1", HS256, testSecret)
	ks := mustKeySet(t, "k1", k)
	iss := mustIssuer(t, ks, WithClock(clk.now))
	v := mustVerifier(t, ks, WithClock(clk.now))
	lim := mustParseLimits(t, `{"models":["gpt-4o-mini"],"max_output_tokens":256,"total_tokens":1000}`)

	issued := mustIssue(t, iss, Params{APIKey: testAPIKey, Limits: lim})
	_, payload, _ := parts(t, issued.Token)
	if !strings.Contains(payload, `"lim":{"models":["gpt-4o-mini"],"max_output_tokens":256,"total_tokens":1000}`) {
		t.Errorf("payload %s lacks the compact lim claim", payload)
	}
	got, err := v.Verify(t.Context(), issued.Token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Limits.String() != lim.String() {
		t.Errorf("verified limits = %v, want %v", got.Limits, lim)
	}

	clk.t = clk.t.Add(60e9)
	refreshed, err := iss.Refresh(t.Context(), got, 0)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	again, err := v.Verify(t.Context(), refreshed.Token)
	if err != nil {
		t.Fatalf("Verify refreshed: %v", err)
	}
	if again.Limits.String() != lim.String() {
		t.Errorf("refreshed limits = %v, want %v", again.Limits, lim)
	}

	plain := mustIssue(t, iss, Params{APIKey: testAPIKey})
	if _, payload, _ := parts(t, plain.Token); strings.Contains(payload, `"lim"`) {
		t.Errorf("a session without limits has a lim claim: %s", payload)
	}
}

// TestTamperedLimitsRefused changes the lim claim of a real token and keeps its
// signature: the signature check refuses it before the claims are read.
func TestTamperedLimitsRefused(t *testing.T) {
	k := mustHMACKey(t, "k1", HS256, testSecret)
	ks := mustKeySet(t, "k1", k)
	iss := mustIssuer(t, ks)
	v := mustVerifier(t, ks)
	issued := mustIssue(t, iss, Params{APIKey: testAPIKey, Limits: mustParseLimits(t, `{"models":["gpt-4o-mini"],"max_output_tokens":256}`)})
	header, payload, sig := parts(t, issued.Token)
	for name, forged := range map[string]string{
		"wider model":   strings.Replace(payload, `"gpt-4o-mini"`, `"*"`, 1),
		"larger cap":    strings.Replace(payload, `256`, `999999`, 1),
		"lim removed":   strings.Replace(payload, `,"lim":{"models":["gpt-4o-mini"],"max_output_tokens":256}`, ``, 1),
		"lim nulled":    strings.Replace(payload, `{"models":["gpt-4o-mini"],"max_output_tokens":256}`, `null`, 1),
		"same, spelled": strings.Replace(payload, `"max_output_tokens":256`, `"max_output_tokens":256.0`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			if forged == payload {
				t.Fatalf("the test's replacement did not apply to %s", payload)
			}
			tok := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(forged)) + "." + enc.EncodeToString(sig)
			if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrTokenSignatureInvalid) {
				t.Errorf("Verify = %v, want %v", err, ErrTokenSignatureInvalid)
			}
		})
	}
}

// TestMalformedLimitsClaimRefused signs payloads with a lim claim jwtgate would
// never issue, with the real key: the claim is decoded strictly all the same.
func TestMalformedLimitsClaimRefused(t *testing.T) {
	clk := newTestClock()
	k := mustHMACKey(t, "k1", HS256, testSecret)
	v := mustVerifier(t, mustKeySet(t, "k1", k), WithClock(clk.now))
	valid := claimsAt(clk.t)
	for name, lim := range map[string]any{
		"valid":          map[string]any{"models": []string{"a"}},
		"empty":          map[string]any{},
		"null":           nil, // JSON null
		"array":          []string{"a"},
		"unknown member": map[string]any{"model": []string{"a"}},
		"zero":           map[string]any{"max_output_tokens": 0},
		"negative":       map[string]any{"total_tokens": -5},
		"bad pattern":    map[string]any{"models": []string{"a*b"}},
		"unclean path":   map[string]any{"paths": []string{"/a/../b"}},
	} {
		t.Run(name, func(t *testing.T) {
			claims := with(valid)
			claims["lim"] = lim
			tok := hmacSign(HS256, testSecret, hs256Header, mustJSON(t, claims))
			_, err := v.Verify(t.Context(), tok)
			if name == "valid" {
				if err != nil {
					t.Fatalf("Verify of a valid lim claim: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrTokenMalformed) {
				t.Errorf("Verify = %v, want %v", err, ErrTokenMalformed)
			}
		})
	}
}

// TestLargestLimitsFitInAToken issues a token with every list full of the longest
// patterns, the longest API key and subject: it stays well under MaxTokenSize.
func TestLargestLimitsFitInAToken(t *testing.T) {
	var s LimitSpec
	for i := range MaxLimitPatterns {
		s.Models = append(s.Models, strings.Repeat(string(rune('a'+i)), MaxLimitPatternLen-1)+"*")
		s.Paths = append(s.Paths, "/"+strings.Repeat(string(rune('a'+i)), MaxLimitPatternLen-1))
	}
	s.MaxOutputTokens, s.RequestsPerMinute, s.TokensPerMinute, s.TotalTokens, s.ConcurrentRequests =
		MaxLimitValue, MaxLimitValue, MaxLimitValue, MaxLimitValue, MaxLimitValue
	k := mustHMACKey(t, "k1", HS512, []byte(strings.Repeat("s", 64)))
	ks := mustKeySet(t, "k1", k)
	issued := mustIssue(t, mustIssuer(t, ks), Params{
		APIKey:  strings.Repeat("k", MaxAPIKeyLen),
		Subject: strings.Repeat("\"", MaxSubjectLen), // each one escaped: twice as long in JSON
		Limits:  mustLimits(t, s),
	})
	// An RSA-8192 signature is 1366 characters, an HS512 one 86: leave room for it.
	n, room := len(issued.Token), MaxTokenSize-(1366-86)
	t.Logf("largest token: %d bytes", n)
	if n > room*9/10 {
		t.Errorf("largest token is %d bytes, want at most 90%% of %d", n, room)
	}
	if _, err := mustVerifier(t, ks).Verify(t.Context(), issued.Token); err != nil {
		t.Errorf("Verify of the largest token: %v", err)
	}
}
