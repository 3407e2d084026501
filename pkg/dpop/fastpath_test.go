package dpop

import (
	"errors"
	"net/url"
	"testing"

	"github.com/go-json-experiment/json"
)

// The fast paths of a proof check (plainClaims, matchPlainTarget, checkHTU's
// shortcut, the header cache) must decide exactly as the general code they
// shortcut. These fuzz targets hold them to it; their seeds run with go test.

// FuzzPlainClaims: whatever plainClaims accepts, the strict decoder accepts too,
// with the same values.
func FuzzPlainClaims(f *testing.F) {
	for _, s := range []string{
		fuzzClaims,
		`{"jti":"a","htm":"GET","htu":"https://a.example/x","iat":1800000000,"ath":"x","nonce":"n"}`,
		` { "jti" : "a" , "iat" : 1 } `,
		"{\n\t\"jti\":\"a\"\r\n}",
		`{}`, `{ }`, `[]`, `{"jti":"a",}`, `{"jti":"a"}x`, `{"jti":"a""htm":"b"}`,
		`{"jti":"a","jti":"b"}`, `{"JTI":"a"}`, `{"j\u0074i":"a"}`, `{"jti":"\u00e9"}`, `{"jti":"é"}`,
		`{"jti":null}`, `{"jti":1}`, `{"iat":"1"}`, `{"iat":01}`, `{"iat":0}`, `{"iat":-1}`,
		`{"iat":1.5}`, `{"iat":1e9}`, `{"iat":999999999999999}`, `{"iat":1000000000000000}`,
		`{"iat":1800000000 }`, `{"iat":18x}`, `{"other":"x"}`, `{"jti":"a","sub":{"x":1}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var fast wireClaims
		if !plainClaims(s, &fast) {
			return
		}
		var strict wireClaims
		if err := json.Unmarshal([]byte(s), &strict); err != nil {
			t.Fatalf("plainClaims accepted %q, the strict decoder refuses it: %v", s, err)
		}
		if fast != strict {
			t.Fatalf("%q: plainClaims read %+v, the strict decoder %+v", s, fast, strict)
		}
	})
}

// FuzzHTUNormalForm: the normal form of an htu is its own normal form, which
// checkHTU's shortcut rests on.
func FuzzHTUNormalForm(f *testing.F) {
	for _, s := range []string{
		"https://gateway.example/sessions", "HTTPS://GATEWAY.example:443/a/./b/../c",
		"http://a.example:8080", "wss://a.example/%7e%2f%41/", "http://[::1]:80/x/..",
		"https://a.example/.well-known/x", "https://a.example/a/%2E%2E/b", "http://a.example:/",
		"https://a.example:00443/x", "ws://A.EXAMPLE/p;q=1/@:!$&'()*+,=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, htu string) {
		n, err := normalizeHTU(htu)
		if err != nil {
			return
		}
		if n2, err := normalizeHTU(n); err != nil || n2 != n {
			t.Fatalf("normalizeHTU(%q) = %q, whose normal form is %q (%v)", htu, n, n2, err)
		}
	})
}

// FuzzHTUMatch: checkHTU decides as normalising both URIs and comparing them
// does, with the same error; matchPlainTarget, where it decides, tells whether
// htu is the request URI's normal form exactly.
func FuzzHTUMatch(f *testing.F) {
	for _, s := range [][4]string{
		{"https", "gateway.example", "/v1/chat/completions", "https://gateway.example/v1/chat/completions"},
		{"https", "gateway.example", "/v1/chat/completions", "https://GATEWAY.example:443/v1/chat/completions"},
		{"http", "localhost:8080", "/sessions", "http://localhost:8080/sessions"},
		{"http", "localhost:80", "/sessions", "http://localhost/sessions"},
		{"http", "localhost:080", "/sessions", "http://localhost:80/sessions"},
		{"http", "Localhost", "/a/./b", "http://localhost/a/b"},
		{"https", "a.example", "/x y", "https://a.example/x%20y"},
		{"ws", "a.example", "/ws", "http://a.example/ws"},
		{"https", "[::1]:8443", "/", "https://[::1]:8443/"},
		{"https", "a.example:", "", "https://a.example/"},
		{"ftp", "a.example", "/", "ftp://a.example/"},
		{"https", "a.example", "/x", "https://a.example/x?q"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, scheme, host, path, htu string) {
		u := &url.URL{Scheme: scheme, Host: host, Path: path}
		want := referenceCheckHTU(htu, u)
		if got := checkHTU(htu, u); !sameError(got, want) {
			t.Fatalf("checkHTU(%q, %q) = %v, want %v", htu, u, got, want)
		}
		match, ok := matchPlainTarget(htu, u)
		if !ok {
			return
		}
		target, err := normalizeRequestURI(u)
		if err != nil {
			t.Fatalf("matchPlainTarget took %q, which does not normalise: %v", u, err)
		}
		if match != (htu == target) || match && want != nil {
			t.Fatalf("matchPlainTarget(%q, %q) = %v; the normal form is %q, the check says %v", htu, u, match, target, want)
		}
		if m, ok := matchPlainTarget(target, u); !ok || !m {
			t.Fatalf("matchPlainTarget(%q, %q) = %v, %v; want a match", target, u, m, ok)
		}
	})
}

// referenceCheckHTU is the check without shortcuts: normalise htu, then the
// request URI, and compare.
func referenceCheckHTU(htu string, u *url.URL) error {
	n, err := normalizeHTU(htu)
	if err != nil {
		return err
	}
	target, err := normalizeRequestURI(u)
	if err != nil {
		return err
	}
	if n != target {
		return ErrProofURI
	}
	return nil
}

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Error() == b.Error() && errors.Is(a, ErrProofURI) == errors.Is(b, ErrProofURI)
}

// TestHeaderCacheBounded fills a header cache past its cap and checks it stays
// there, and that a header longer than the cached maximum is not kept.
func TestHeaderCacheBounded(t *testing.T) {
	c := newHeaderCache()
	for i := range headerCacheSize + 100 {
		c.add(string(rune('a'+i%26))+url.PathEscape(string(rune(i))), cachedHeader{alg: algES256})
	}
	if n := len(c.m); n != headerCacheSize {
		t.Fatalf("%d headers cached, want the cap %d", n, headerCacheSize)
	}
	long := make([]byte, maxCachedHeader+1)
	for i := range long {
		long[i] = 'A'
	}
	c.add(string(long), cachedHeader{alg: algES256})
	if _, ok := c.get(string(long)); ok {
		t.Fatal("a header over the cached maximum was cached")
	}
}
