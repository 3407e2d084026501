package token

import (
	"math/rand/v2"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// TestWireClaimsAppendJSONMatchesMarshal checks the hand-written payload
// encoder against the reflective one, byte for byte, over every member empty
// and set, strings that need escaping (and invalid UTF-8, where both must
// fail), and the raw members' empty forms, which omitempty leaves out.
func TestWireClaimsAppendJSONMatchesMarshal(t *testing.T) {
	strs := []string{"", "plain", `quote " and \ backslash`, "line\nbreak\ttab\x01\x1f\x7f", "zoë <b>&amp;</b> \u2028\u2029",
		"emoji 😀", "apikey:0123456789abcdef", "sk-<script>&'\"", "bad \xff utf-8", "\xed\xa0\x80 surrogate", "\u0000"}
	lim, err := ParseLimits([]byte(`{"models":["gpt-4o-mini","claude-*"],"paths":["/chat/completions"],"max_output_tokens":1024,"total_tokens":5}`))
	if err != nil {
		t.Fatal(err)
	}
	raws := []jsontext.Value{nil, jsontext.Value(""), jsontext.Value("null"), jsontext.Value(`""`), jsontext.Value("{}"),
		jsontext.Value("[]"), jsontext.Value(`"jwtgate"`), jsontext.Value(`["a","b"]`), lim.AppendJSON(nil),
		appendCnf(nil, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")}
	// Audiences as NewIssuer encodes them, odd ones included. (Marshal rewrites a
	// raw value into its own canonical form, `"a\u003cb"` into `"a<b"`; what the
	// issuer copies in is already in that form.)
	for _, s := range strs {
		if aud, err := json.Marshal(s); err == nil {
			raws = append(raws, aud)
		}
	}
	nums := []int64{0, 1, -1, 1764590000, 1<<63 - 1, -1 << 63}
	check := func(w wireClaims) {
		t.Helper()
		want, wantErr := json.Marshal(&w)
		got, gotErr := w.appendJSON(nil)
		if (wantErr != nil) != (gotErr != nil) {
			t.Fatalf("appendJSON error %v, Marshal error %v, for %+v", gotErr, wantErr, w)
		}
		if wantErr == nil && string(got) != string(want) {
			t.Fatalf("appendJSON = %s\n      Marshal = %s", got, want)
		}
	}
	// Each member on its own, through every value of its kind.
	for _, s := range strs {
		for _, set := range []func(*wireClaims, string){
			func(w *wireClaims, s string) { w.Iss = s }, func(w *wireClaims, s string) { w.Sub = s },
			func(w *wireClaims, s string) { w.Jti = s }, func(w *wireClaims, s string) { w.Sid = s },
			func(w *wireClaims, s string) { w.Akf = s }, func(w *wireClaims, s string) { w.Ak = s },
			func(w *wireClaims, s string) { w.Aks = s },
		} {
			var w wireClaims
			set(&w, s)
			check(w)
		}
	}
	for _, n := range nums {
		check(wireClaims{Iat: n})
		check(wireClaims{Nbf: n})
		check(wireClaims{Exp: n})
		check(wireClaims{Sst: n})
	}
	for _, v := range raws {
		check(wireClaims{Aud: v})
		check(wireClaims{Lim: v})
		check(wireClaims{Cnf: v})
	}
	// Random combinations of every member, from a fixed seed.
	r := rand.New(rand.NewPCG(15, 2026))
	pick := func() string { return strs[r.IntN(len(strs))] }
	for range 20000 {
		check(wireClaims{
			Iss: pick(), Aud: raws[r.IntN(len(raws))], Sub: pick(),
			Iat: nums[r.IntN(len(nums))], Nbf: nums[r.IntN(len(nums))], Exp: nums[r.IntN(len(nums))],
			Jti: pick(), Sid: pick(), Sst: nums[r.IntN(len(nums))], Akf: pick(), Ak: pick(), Aks: pick(),
			Lim: raws[r.IntN(len(raws))], Cnf: raws[r.IntN(len(raws))],
		})
	}
}
